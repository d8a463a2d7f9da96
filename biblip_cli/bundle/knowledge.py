"""Gene knowledge (the text modality's source) and protein sequences of a bundle.

`knowledge/genes.tsv.gz` is a tab-separated table with a header; list-valued columns
(`go_terms`, `diseases`, `hpo_terms`, `omim_ids`, ...) are `;`-separated. Unknown extra
columns are kept in `GeneKnowledge.extra` so newer tables still load.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from biblip_cli.errors import BiblipError
from biblip_cli.io.textfiles import open_text

LIST_COLUMNS = ("go_terms", "go_ids", "diseases", "disease_ids", "hpo_terms", "omim_ids")
TEXT_COLUMNS = (
    "hgnc_id",
    "entrez_id",
    "ensembl_id",
    "uniprot_acc",
    "name",
    "gene_type",
    "chromosome",
    "cytoband",
    "summary",
)


@dataclass
class GeneKnowledge:
    """What we know about one gene, as text and id lists (never a model label)."""

    symbol: str
    name: str = ""
    gene_type: str = ""
    summary: str = ""
    go_terms: list[str] = field(default_factory=list)
    diseases: list[str] = field(default_factory=list)
    hpo_terms: list[str] = field(default_factory=list)
    omim_ids: list[str] = field(default_factory=list)
    go_ids: list[str] = field(default_factory=list)
    disease_ids: list[str] = field(default_factory=list)
    hgnc_id: str = ""
    entrez_id: str = ""
    ensembl_id: str = ""
    uniprot_acc: str = ""
    chromosome: str = ""
    cytoband: str = ""
    extra: dict[str, str] = field(default_factory=dict)


def _split(value: str) -> list[str]:
    return [item.strip() for item in value.split(";") if item.strip()]


def read_knowledge_header(path: Path) -> list[str]:
    with open_text(Path(path)) as fh:
        return fh.readline().rstrip("\r\n").split("\t")


def load_knowledge(path: Path) -> dict[str, GeneKnowledge]:
    """Gene symbol -> GeneKnowledge from a (gzipped) TSV with at least a `symbol` column."""
    path = Path(path)
    result: dict[str, GeneKnowledge] = {}
    try:
        with open_text(path) as fh:
            reader = csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
            if not reader.fieldnames or "symbol" not in reader.fieldnames:
                raise BiblipError(
                    "gene knowledge table has no 'symbol' column",
                    where=str(path),
                    hint="the first line must be a tab-separated header starting with 'symbol'",
                )
            known = {"symbol", *LIST_COLUMNS, *TEXT_COLUMNS}
            for line, row in enumerate(reader, start=2):
                symbol = (row.get("symbol") or "").strip()
                if not symbol:
                    raise BiblipError(
                        "empty gene symbol", where=f"{path}:{line}", hint="every row needs a symbol"
                    )
                if None in row:
                    raise BiblipError(
                        "more columns than the header", where=f"{path}:{line}", hint="check the TSV"
                    )
                values = {k: (v or "") for k, v in row.items()}
                result[symbol] = GeneKnowledge(
                    symbol=symbol,
                    **{col: values.get(col, "") for col in TEXT_COLUMNS},
                    **{col: _split(values.get(col, "")) for col in LIST_COLUMNS},
                    extra={k: v for k, v in values.items() if k not in known},
                )
    except (OSError, EOFError, UnicodeDecodeError, csv.Error) as err:
        if isinstance(err, FileNotFoundError):
            raise BiblipError(
                "gene knowledge file not found", where=str(path), hint="check the bundle"
            ) from err
        raise BiblipError(
            f"cannot read gene knowledge table ({err})", where=str(path), hint="rebuild the bundle"
        ) from err
    return result


def parse_protein_header(header: str) -> tuple[str, dict[str, str]]:
    """`>PRNP transcript=PRNP.canonical chrom=chr20 strand=+` -> ("PRNP", {...})."""
    fields = header.lstrip(">").split()
    if not fields:
        return "", {}
    attrs = dict(item.split("=", 1) for item in fields[1:] if "=" in item)
    return fields[0], attrs


def iter_fasta(path: Path):
    """Yield (header without '>', sequence) from a plain or gzipped FASTA."""
    path = Path(path)
    header: str | None = None
    chunks: list[str] = []
    with open_text(path) as fh:
        for raw in fh:
            line = raw.strip()
            if not line:
                continue
            if line.startswith(">"):
                if header is not None:
                    yield header, "".join(chunks)
                header, chunks = line[1:], []
            elif header is None:
                raise BiblipError(
                    "FASTA does not start with a '>' header", where=str(path), hint="check the file format"
                )
            else:
                chunks.append(line)
    if header is not None:
        yield header, "".join(chunks)


def load_proteins(fasta: Path) -> dict[str, str]:
    """Gene symbol -> amino-acid sequence (stop `*` stripped) from a protein FASTA."""
    proteins: dict[str, str] = {}
    try:
        for header, seq in iter_fasta(Path(fasta)):
            gene, _ = parse_protein_header(header)
            if gene:
                proteins[gene] = seq.upper().rstrip("*")
    except (OSError, EOFError, UnicodeDecodeError) as err:
        raise BiblipError(
            f"cannot read protein FASTA ({err})", where=str(fasta), hint="check the bundle"
        ) from err
    return proteins
