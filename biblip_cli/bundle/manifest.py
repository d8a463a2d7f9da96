"""The bundle manifest (`manifest.json`): what each file is, where it came from, and its checksum.

Paths in a manifest are relative to the bundle directory and are resolved only through
`safe_path`, so a manifest cannot make biblip read outside its bundle (`../x`, `/etc/passwd`,
or a symlink pointing out of the directory are all rejected).
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from biblip_cli.errors import BiblipError

MANIFEST_NAME = "manifest.json"
SCHEMA_VERSION = 1

#: File roles a bundle may hold. Required ones must be present for `Bundle.open` to succeed.
REQUIRED_ROLES = ("fasta", "fai", "gtf", "proteins", "knowledge", "hpo_obo", "hpo_genes", "hpo_annotations")
OPTIONAL_ROLES = ("gzi", "gtf_index", "enhancers", "text_embeddings", "paralogs")
ALL_ROLES = REQUIRED_ROLES + OPTIONAL_ROLES


@dataclass
class FileEntry:
    """One file of the bundle: relative path, sha256 of its bytes, and its provenance."""

    path: str
    sha256: str = ""
    source: str = ""
    version: str = ""
    size: int = 0


@dataclass
class Manifest:
    """Everything `manifest.json` says about a bundle."""

    name: str
    build: str
    files: dict[str, FileEntry] = field(default_factory=dict)
    contig_aliases: dict[str, str] = field(default_factory=dict)
    contigs: dict[str, int] = field(default_factory=dict)
    regions: list[str] = field(default_factory=list)
    schema_version: int = SCHEMA_VERSION
    created: str = ""
    biblip_version: str = ""
    description: str = ""

    def to_json(self) -> str:
        data = asdict(self)
        return json.dumps(data, indent=2, sort_keys=False) + "\n"

    @classmethod
    def from_dict(cls, data: dict, where: str = MANIFEST_NAME) -> Manifest:
        try:
            files = {role: FileEntry(**entry) for role, entry in data.get("files", {}).items()}
            return cls(
                name=str(data["name"]),
                build=str(data["build"]),
                files=files,
                contig_aliases={str(k): str(v) for k, v in data.get("contig_aliases", {}).items()},
                contigs={str(k): int(v) for k, v in data.get("contigs", {}).items()},
                regions=[str(r) for r in data.get("regions", [])],
                schema_version=int(data.get("schema_version", SCHEMA_VERSION)),
                created=str(data.get("created", "")),
                biblip_version=str(data.get("biblip_version", "")),
                description=str(data.get("description", "")),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise BiblipError(
                f"malformed manifest ({type(err).__name__}: {err})",
                where=where,
                hint="rebuild the bundle with `biblip bundle build`",
            ) from err


def safe_path(bundle_dir: Path, rel: str) -> Path:
    """Resolve a manifest path inside `bundle_dir`; reject anything that would leave it."""
    where = str(Path(bundle_dir) / MANIFEST_NAME)
    if not rel or Path(rel).is_absolute() or rel.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", rel):
        raise BiblipError(
            f"file path {rel!r} is absolute or empty; bundle paths must be relative",
            where=where,
            hint="fix the manifest or rebuild the bundle",
        )
    parts = Path(rel).parts
    if ".." in parts or "\\" in rel:
        raise BiblipError(
            f"file path {rel!r} escapes the bundle directory",
            where=where,
            hint="fix the manifest or rebuild the bundle",
        )
    root = Path(bundle_dir).resolve()
    full = (root / rel).resolve()
    if full != root and root not in full.parents:
        raise BiblipError(
            f"file path {rel!r} points outside the bundle (symlink to {full})",
            where=where,
            hint="copy the file into the bundle instead of linking it",
        )
    return root / rel


def read_manifest(bundle_dir: Path) -> Manifest:
    """Read and check `bundle_dir/manifest.json` (schema version, path safety)."""
    bundle_dir = Path(bundle_dir)
    if not bundle_dir.exists():
        raise BiblipError(
            "bundle directory not found",
            where=str(bundle_dir),
            hint="pass --bundle DIR, set $BIBLIP_BUNDLE, or build one with `biblip bundle build`",
        )
    if not bundle_dir.is_dir():
        raise BiblipError(
            "bundle path is not a directory", where=str(bundle_dir), hint="pass the bundle directory"
        )
    path = bundle_dir / MANIFEST_NAME
    if not path.is_file():
        raise BiblipError(
            f"no {MANIFEST_NAME} in the bundle directory",
            where=str(bundle_dir),
            hint="is this a bundle? build one with `biblip bundle build`",
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise BiblipError(
            f"manifest is not valid JSON ({err})",
            where=str(path),
            hint="rebuild the bundle with `biblip bundle build`",
        ) from err
    if not isinstance(data, dict):
        raise BiblipError("manifest is not a JSON object", where=str(path), hint="rebuild the bundle")
    manifest = Manifest.from_dict(data, where=str(path))
    if manifest.schema_version > SCHEMA_VERSION:
        raise BiblipError(
            f"bundle schema version {manifest.schema_version} is newer than this biblip understands ({SCHEMA_VERSION})",
            where=str(path),
            hint="upgrade biblip",
        )
    for entry in manifest.files.values():
        safe_path(bundle_dir, entry.path)
    return manifest


def write_manifest(bundle_dir: Path, manifest: Manifest) -> Path:
    """Write `manifest.json` atomically (temp file + rename)."""
    path = Path(bundle_dir) / MANIFEST_NAME
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(manifest.to_json(), encoding="utf-8")
    tmp.replace(path)
    return path


def contig_aliases(contigs: list[str]) -> dict[str, str]:
    """Alias -> bundle contig name for every contig: `chr20`<->`20`, `chrM`<->`MT`, `chrX`<->`X`.

    Only names that are not themselves bundle contigs become aliases.
    """
    names = set(contigs)
    aliases: dict[str, str] = {}
    for name in contigs:
        for alt in alternate_names(name):
            if alt not in names and alt not in aliases:
                aliases[alt] = name
    return aliases


def alternate_names(name: str) -> list[str]:
    if name in ("chrM", "chrMT"):
        return ["MT", "M", "chrM", "chrMT"]
    if name in ("MT", "M"):
        return ["chrM", "chrMT", "MT", "M"]
    if name.startswith("chr"):
        return [name[3:]]
    return ["chr" + name]
