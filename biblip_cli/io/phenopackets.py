"""GA4GH Phenopacket v2 input for `biblip rank --phenopacket` (JSON; YAML when PyYAML is importable).

What is read (everything else in the packet is ignored):
- `subject.id` (the proband sample when the VCF has it) and `subject.sex` (MALE -> 1, FEMALE -> 2,
  anything else -> 0, as in a PED file);
- `phenotypicFeatures[].type.id`: observed terms, or excluded ones where `excluded: true`;
- `files[]` whose `fileAttributes.fileFormat` is `vcf` (case-insensitive; without a fileFormat, a URI
  ending in .vcf, .vcf.gz, .vcf.bgz or .bcf): the first one's `uri` is the VCF, `file://` URIs or paths
  relative to the packet's folder. Other schemes (http, s3, drs) cannot be read: an error when the
  packet's VCF is the one needed.
Term ids are returned as written; the caller resolves them against the bundle's HPO (leniently:
unknown ids are skipped with a warning, `HpoOntology.resolve_terms_lenient`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from biblip_cli.errors import BiblipError

__all__ = ["SEX_CODES", "Phenopacket", "read_phenopacket"]

SEX_CODES = {"MALE": 1, "FEMALE": 2}
VCF_SUFFIXES = (".vcf", ".vcf.gz", ".vcf.bgz", ".bcf")


@dataclass
class Phenopacket:
    path: Path
    id: str
    subject_id: str | None
    sex: int  # 1 male, 2 female, 0 unknown/other (PED coding)
    sex_label: str  # as written (MALE, FEMALE, UNKNOWN_SEX, OTHER_SEX, "")
    observed: list[str] = field(default_factory=list)  # HP ids as written
    excluded: list[str] = field(default_factory=list)
    vcf: Path | None = None  # a readable local path, resolved
    vcf_problem: str = ""  # why a VCF entry could not be used (remote URI, ...)
    warnings: list[str] = field(default_factory=list)

    def require_vcf(self) -> Path:
        if self.vcf is not None:
            return self.vcf
        raise BiblipError(
            self.vcf_problem or "the phenopacket names no VCF file",
            where=str(self.path),
            hint="give the VCF on the command line: biblip rank case.vcf.gz --phenopacket case.json",
        )


def _load(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BiblipError("phenopacket not found", where=str(path), hint="check the path") from None
    except (OSError, UnicodeDecodeError) as err:
        raise BiblipError(f"cannot read the phenopacket: {err}", where=str(path)) from None
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            import yaml  # type: ignore[import-untyped]
        except ImportError:
            raise BiblipError(
                "YAML phenopackets need PyYAML, which is not installed",
                where=str(path),
                hint="pip install pyyaml, or convert the packet to JSON",
            ) from None
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise BiblipError(f"not valid YAML: {err}".splitlines()[0], where=str(path)) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise BiblipError(
            f"not valid JSON: {err.msg} (line {err.lineno}, column {err.colno})",
            where=str(path),
            hint="a GA4GH Phenopacket v2 JSON file (a .yaml/.yml name is read as YAML)",
        ) from None


def _vcf_from_files(packet: Phenopacket, files: Any) -> None:
    if not isinstance(files, list):
        return
    found: list[str] = []
    for entry in files:
        if not isinstance(entry, dict) or not isinstance(entry.get("uri"), str):
            continue
        attrs = entry.get("fileAttributes") if isinstance(entry.get("fileAttributes"), dict) else {}
        fmt = str(attrs.get("fileFormat", "")).strip().lower()
        uri = entry["uri"].strip()
        if fmt in ("vcf", "bcf") or (not fmt and uri.lower().endswith(VCF_SUFFIXES)):
            found.append(uri)
    if not found:
        return
    if len(found) > 1:
        packet.warnings.append(f"the phenopacket names {len(found)} VCF files; using the first ({found[0]})")
    uri = found[0]
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            packet.vcf_problem = f"VCF URI {uri!r} names another host"
            return
        local = Path(unquote(parsed.path))
    elif parsed.scheme and len(parsed.scheme) > 1:  # http, s3, drs...; one letter = a Windows drive
        packet.vcf_problem = f"VCF URI {uri!r} is not a local file (only file:// or a relative path)"
        return
    else:
        local = Path(unquote(uri))
    if not local.is_absolute():
        local = packet.path.parent / local
    if not local.is_file():
        packet.vcf_problem = f"the phenopacket's VCF {uri!r} does not exist ({local})"
        return
    packet.vcf = local


def read_phenopacket(path: Path | str) -> Phenopacket:
    """Read the parts of a Phenopacket v2 that `biblip rank` uses (module docstring)."""
    path = Path(path)
    data = _load(path)
    if not isinstance(data, dict):
        raise BiblipError("not a phenopacket (the top level is not an object)", where=str(path))
    if "phenotypicFeatures" not in data and "subject" not in data:
        raise BiblipError(
            "not a phenopacket: neither 'subject' nor 'phenotypicFeatures'",
            where=str(path),
            hint="a GA4GH Phenopacket v2 (a Family or Cohort is not read; pass its proband's packet)",
        )
    subject = data.get("subject") if isinstance(data.get("subject"), dict) else {}
    sex_label = str(subject.get("sex") or "").strip().upper()
    packet = Phenopacket(
        path=path,
        id=str(data.get("id") or ""),
        subject_id=str(subject["id"]) if subject.get("id") not in (None, "") else None,
        sex=SEX_CODES.get(sex_label, 0),
        sex_label=sex_label,
    )
    features = data.get("phenotypicFeatures") or []
    if not isinstance(features, list):
        raise BiblipError("'phenotypicFeatures' is not a list", where=str(path))
    for number, feature in enumerate(features, start=1):
        kind = feature.get("type") if isinstance(feature, dict) else None
        term = kind.get("id") if isinstance(kind, dict) else None
        if not isinstance(term, str) or not term.strip():
            packet.warnings.append(f"phenotypicFeatures[{number}] has no type.id; skipped")
            continue
        target = packet.excluded if feature.get("excluded") is True else packet.observed
        if term.strip() not in target:
            target.append(term.strip())
    _vcf_from_files(packet, data.get("files"))
    return packet
