"""The VCF header and INFO fields biblip writes: the BIOBLIP CSQ-style columns (`VEP_COLUMNS`,
`BIOBLIP_COLUMNS`), INFO value escaping and appending (`escape_info`, `append_info`), the INFO keys we declare
(`OUR_INFO`, `check_info_conflicts`, `add_*_header`) and the output header text (`header_text`)."""

from __future__ import annotations

import re
from collections.abc import Iterable

from biblip_cli.errors import BiblipError
from biblip_cli.io.vcf_read import VcfReader

# The CSQ-style field: VEP's names and meanings first (docs/output.md maps each to VEP and SnpEff ANN),
# then ours. Readers take the order from the header's `Format:`; columns may be added at the end.
VEP_COLUMNS: tuple[str, ...] = (
    "Allele",
    "Consequence",
    "IMPACT",
    "SYMBOL",
    "Gene",
    "Feature_type",
    "Feature",
    "BIOTYPE",
    "EXON",
    "INTRON",
    "HGVSc",
    "HGVSp",
    "cDNA_position",
    "CDS_position",
    "Protein_position",
    "Amino_acids",
    "Codons",
    "STRAND",
    "CANONICAL",
    "MANE_SELECT",
    "HGVSg",
    "DISTANCE",
)
BIOBLIP_COLUMNS: tuple[str, ...] = VEP_COLUMNS + ("Pathogenicity", "Status")
INFO_ESCAPES: dict[str, str] = {
    ",": "%2C",
    ";": "%3B",
    "=": "%3D",
    "|": "%7C",
    " ": "_",
    "\t": "_",
    "\n": "_",
    "\r": "_",
}
_INFO_ESCAPES = str.maketrans(INFO_ESCAPES)


def escape_info(value: str) -> str:
    """Make a value safe inside an INFO string (VEP's convention: percent-codes, spaces to `_`)."""
    return value.translate(_INFO_ESCAPES)


def append_info(line: str, added: str) -> str:
    """A record line with `added` (`KEY=value[;KEY=value]`) appended to its INFO column.

    Editing the text leaves the rest of the line exactly as it was (bytes that are not UTF-8 included,
    as surrogate escapes); items with the keys being added (re-annotating our own output) are replaced,
    not duplicated."""
    if line.endswith("\t.\n") and line.count("\t") == 7:  # sites-only with an empty INFO: the common case
        return line[:-2] + added + "\n"
    columns = line.split("\t", 8)
    info = columns[7]
    last = len(columns) == 8  # no FORMAT/samples: INFO ends the line
    if last:
        info = info[:-1]
    if "BIOBLIP" in info:
        keys = {item.split("=", 1)[0] for item in added.split(";")}
        kept = [item for item in info.split(";") if item.split("=", 1)[0] not in keys and item != "."]
        info = ";".join(kept) or "."
    columns[7] = (added if info == "." else info + ";" + added) + ("\n" if last else "")
    return "\t".join(columns)


# --- header ----------------------------------------------------------------------------------------


def bioblip_header_line(columns: Iterable[str] = BIOBLIP_COLUMNS) -> dict[str, str]:
    return {
        "ID": "BIOBLIP",
        "Number": ".",
        "Type": "String",
        "Description": "Bio-BLIP annotation per ALT allele and transcript (values percent-encoded). Format: "
        + "|".join(columns),
    }


# The INFO keys biblip writes, with their Number and Type: an input declaring one of them otherwise would
# make our values unreadable by htslib (it parses them by the first declaration).
OUR_INFO: dict[str, tuple[str, str]] = {
    "BIOBLIP": (".", "String"),
    "BIOBLIP_EXPLAIN": ("A", "String"),
    "BIOBLIP_RANK": ("A", "Integer"),
    "BIOBLIP_SCORE": ("A", "Float"),
    "BIOBLIP_TARGET": (".", "String"),
}
_IDX = re.compile(r",IDX=\d+>$")
_INFO_LINE = re.compile(r"^##INFO=<ID=([^,>]+)(.*)$")


def _field(rest: str, key: str) -> str:
    match = re.search(rf"[<,]{key}=([^,>]+)", "<" + rest.lstrip(","))
    return match.group(1) if match else ""


def declared_info(reader: VcfReader) -> dict[str, tuple[str, str, str]]:
    """INFO id -> (Number, Type, header line) as the input declares them (first declaration wins)."""
    found: dict[str, tuple[str, str, str]] = {}
    for line in reader.vcf.raw_header.splitlines():
        match = _INFO_LINE.match(line)
        if match and match.group(1) not in found:
            rest = match.group(2)
            found[match.group(1)] = (_field(rest, "Number"), _field(rest, "Type"), line)
    return found


def check_info_conflicts(reader: VcfReader, *, overwrite: bool = False) -> None:
    """Before any output: refuse an input that declares a BIOBLIP* INFO key with another Number/Type
    (`overwrite`: our declaration replaces it in the output header, and our values replace its values)."""
    reader.overwrite_info = overwrite  # type: ignore[attr-defined]
    declared = declared_info(reader)
    for key, (number, kind) in OUR_INFO.items():
        if key in declared and declared[key][:2] != (number, kind) and not overwrite:
            old_number, old_kind, _line = declared[key]
            raise BiblipError(
                f"the input already declares INFO/{key} as Number={old_number},Type={old_kind}; "
                f"biblip writes Number={number},Type={kind}",
                where=reader.name,
                hint=f"add --overwrite-info to replace it, or remove it first: bcftools annotate -x INFO/{key}",
            )


def _info_line(spec: dict[str, str]) -> str:
    return (
        f"##INFO=<ID={spec['ID']},Number={spec['Number']},Type={spec['Type']},"
        f'Description="{spec["Description"]}">'
    )


def _add_info(reader: VcfReader, spec: dict[str, str]) -> None:
    key = spec["ID"]
    found = declared_info(reader).get(key)
    if found is not None and found[:2] != (spec["Number"], spec["Type"]):
        if not getattr(reader, "overwrite_info", False):
            check_info_conflicts(reader)  # raises the one-line error
        replaced: dict[str, str] = reader.__dict__.setdefault("replaced_info", {})
        replaced[found[2]] = _info_line(spec)
        return
    reader.vcf.add_info_to_header(spec)


def add_bioblip_header(reader: VcfReader, *, explain: bool = False) -> None:
    _add_info(reader, bioblip_header_line())
    if explain:
        _add_info(
            reader,
            {
                "ID": "BIOBLIP_EXPLAIN",
                "Number": "A",
                "Type": "String",
                "Description": "Bio-BLIP generated summary per ALT allele (percent-encoded, spaces as _)",
            },
        )


def add_rank_header(reader: VcfReader) -> None:
    _add_info(
        reader,
        {"ID": "BIOBLIP_RANK", "Number": "A", "Type": "Integer", "Description": "Bio-BLIP rank (1 = best)"},
    )
    _add_info(
        reader,
        {"ID": "BIOBLIP_SCORE", "Number": "A", "Type": "Float", "Description": "Bio-BLIP ranking score"},
    )


def add_target_header(reader: VcfReader) -> None:
    _add_info(
        reader,
        {
            "ID": "BIOBLIP_TARGET",
            "Number": ".",
            "Type": "String",
            "Description": "Bio-BLIP target-gene scores. Format: Allele|Gene|score",
        },
    )


def add_command_header(reader: VcfReader, command: str) -> None:
    from biblip_cli import __version__

    reader.vcf.add_to_header(f"##biblip_version={__version__}")
    reader.vcf.add_to_header(f"##biblip_command={command.replace(chr(10), ' ')}")


def header_text(reader: VcfReader) -> str:
    """The output header: htslib's, with lines htslib decoded lossily (bytes that are not UTF-8) put back
    from the input's own bytes (as surrogate escapes) and `--overwrite-info` replacements applied."""
    text = reader.vcf.raw_header
    replaced: dict[str, str] = getattr(reader, "replaced_info", {})
    if "\ufffd" not in text and not replaced:
        return text
    originals: dict[str, str] = {}
    if "\ufffd" in text:
        for line in reader.original_header_lines():
            line = _IDX.sub(">", line)  # BCF headers carry IDX=, htslib's text does not
            lossy = line.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
            if lossy != line:
                originals.setdefault(lossy, line)
    out = []
    for line in text.split("\n"):
        line = replaced.get(line, line)
        out.append(originals.get(line, line))
    return "\n".join(out)
