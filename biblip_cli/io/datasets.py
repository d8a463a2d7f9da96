"""THE readers of the shared-data files: training, evaluation and scripts all call these.

- labels TSV (`labels/protein_variants.tsv.gz`): gene_symbol, hgvs_p, ref_aa, position, alt_aa, label
  (+ optional variant_id); the `disease_*`/`omim_ids` columns are never read (they give the label away);
- enhancer-gene pairs TSV (CRISPR benchmark format): chrom, chromStart, chromEnd, name,
  measuredGeneSymbol, startTSS, ValidConnection, Regulated, and where given CellType and the element's
  activity (`DHS.RPM`, `H3K27ac.RPM`, `ATAC.RPM`: `parse_activity`).

One set of rules for both: fields stripped, chromosomes as `chr<N>`, booleans TRUE/1/T/YES,
`startTSS` an integer (NA or empty: unknown), a missing ValidConnection column or value counts as
valid. Training keeps the labels it has answers for (`known_only=True`).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from biblip_cli.errors import BiblipError
from biblip_cli.io.textfiles import open_existing_text
from biblip_cli.records import ElementActivity, ProteinVariant

DATA_HINT = "pass --data DIR (see DATA.md)"
LABELS = ("pathogenic", "benign", "uncertain")
LABEL_COLUMNS = ("gene_symbol", "hgvs_p", "ref_aa", "position", "alt_aa", "label")
PAIR_COLUMNS = ("chrom", "chromStart", "chromEnd", "measuredGeneSymbol", "Regulated")
# element activity columns as ABC / ENCODE-rE2G name them -> ElementActivity field
ACTIVITY_COLUMNS = {"DHS.RPM": "dhs", "H3K27ac.RPM": "h3k27ac", "ATAC.RPM": "atac"}


def normalise_chrom(chrom: str) -> str:
    """`chr20` for `20` or `chr20`; empty stays empty."""
    chrom = (chrom or "").strip()
    if not chrom:
        return ""
    return chrom if chrom.startswith("chr") else f"chr{chrom}"


def tsv_rows(
    path: Path, required: Sequence[str], what: str = "file", hint: str | None = DATA_HINT, quoted: bool = False
) -> Iterable[tuple[int, dict[str, str]]]:
    """(line number, row) of a tab-separated file with a header (plain or gzip; `quoted`: csv quoting,
    for files such as HPO's where names may be quoted, else none)."""
    with open_existing_text(Path(path), what, hint) as fh:
        reader = csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_MINIMAL if quoted else csv.QUOTE_NONE)
        missing = [c for c in required if c not in (reader.fieldnames or [])]
        if missing:
            raise BiblipError(
                f"missing column(s) {', '.join(missing)}",
                where=str(path),
                hint=f"expected a tab-separated header with {', '.join(required)}",
            )
        yield from enumerate(reader, start=2)


def is_true(value: str | None) -> bool:
    return (value or "").strip().upper() in ("TRUE", "1", "T", "YES")


# --- labels (pathogenicity) ----------------------------------------------------------------------
@dataclass(frozen=True)
class LabeledVariant:
    variant: ProteinVariant
    label: str  # lower case: pathogenic | benign | uncertain (others kept unless known_only)
    variant_id: str = ""

    @property
    def is_pathogenic(self) -> bool:
        return self.label == "pathogenic"


def read_labels(path: Path, known_only: bool = False) -> list[LabeledVariant]:
    """The labels TSV; `known_only` keeps only rows labelled pathogenic, benign or uncertain."""
    out: list[LabeledVariant] = []
    for line_number, row in tsv_rows(Path(path), LABEL_COLUMNS, "labels file"):
        label = (row["label"] or "").strip().lower()
        if known_only and label not in LABELS:
            continue
        try:
            position = int(row["position"])
        except ValueError as err:
            raise BiblipError(
                f"position {row['position']!r} is not an integer", where=f"{path}:{line_number}"
            ) from err
        pv = ProteinVariant(
            gene=row["gene_symbol"].strip(),
            hgvsp=row["hgvs_p"].strip(),
            ref_aa=row["ref_aa"].strip().upper(),
            position=position,
            alt_aa=row["alt_aa"].strip().upper(),
        )
        out.append(LabeledVariant(pv, label, (row.get("variant_id") or "").strip()))
    return out


# --- element activity -----------------------------------------------------------------------------
def parse_activity(row: dict[str, str], where: str) -> ElementActivity | None:
    """The activity columns of one row (empty / NA = not measured); a bad number names its column."""
    values: dict[str, float] = {}
    for column, field_name in ACTIVITY_COLUMNS.items():
        raw = (row.get(column) or "").strip()
        if raw in ("", "NA", "NaN", "nan", "."):
            continue
        try:
            value = float(raw)
        except ValueError:
            value = float("nan")
        if not value >= 0 or value == float("inf"):
            raise BiblipError(
                f"column {column}: {raw!r} is not a non-negative number",
                where=where,
                hint=f"{column} is reads per million in the element (empty or NA when not measured)",
            )
        values[field_name] = value
    return ElementActivity(**values) if values else None


# --- enhancer-gene pairs (target genes) ----------------------------------------------------------
@dataclass(frozen=True)
class EnhancerPair:
    chrom: str
    start0: int
    end0: int
    gene: str
    regulated: bool
    tss0: int | None = None
    name: str = ""
    cell_type: str = ""
    activity: ElementActivity | None = None

    @property
    def element(self) -> str:
        return f"{self.chrom}:{self.start0}-{self.end0}"


def read_pairs(path: Path, valid_only: bool = True) -> list[EnhancerPair]:
    """CRISPR benchmark pairs; with `valid_only`, rows whose ValidConnection is not true are dropped."""
    out: list[EnhancerPair] = []
    for line_number, row in tsv_rows(Path(path), PAIR_COLUMNS, "enhancer pairs file"):
        if valid_only and not is_true(row.get("ValidConnection") or "TRUE"):
            continue
        try:
            start0, end0 = int(row["chromStart"]), int(row["chromEnd"])
            tss = (row.get("startTSS") or "").strip()
            tss0 = int(float(tss)) if tss not in ("", "NA") else None
        except ValueError as err:
            raise BiblipError(f"bad coordinate ({err})", where=f"{path}:{line_number}") from err
        out.append(
            EnhancerPair(
                chrom=normalise_chrom(row["chrom"]),
                start0=start0,
                end0=end0,
                gene=row["measuredGeneSymbol"].strip(),
                regulated=is_true(row["Regulated"]),
                tss0=tss0,
                name=(row.get("name") or "").strip(),
                cell_type=(row.get("CellType") or "").strip(),
                activity=parse_activity(row, f"{path}:{line_number}"),
            )
        )
    return out
