"""What a bundle holds, read from its files: GTF genes per contig, the HPO release, table row counts.

Shared by `validate.py` (which checks them) and `biblip bundle info` (`bundle_summary`).
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from biblip_cli.errors import BiblipError
from biblip_cli.io.textfiles import open_text

T = TypeVar("T")


@dataclass
class GeneSpan:
    """What validate/info need from a GTF gene (the full model lives in bundle/genes.py)."""

    symbol: str
    contig: str
    start: int  # 1-based inclusive
    end: int
    gene_type: str = ""
    coding: bool = False


@dataclass
class GtfSummary:
    genes: dict[str, GeneSpan] = field(default_factory=dict)
    bad_lines: list[str] = field(default_factory=list)

    @property
    def contigs(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for gene in self.genes.values():
            counts[gene.contig] = counts.get(gene.contig, 0) + 1
        return counts


_ATTR = re.compile(r'(\S+)\s+"([^"]*)"')


def summarize_gtf(path: Path) -> GtfSummary:
    """One pass over a (gzipped) GTF: gene spans, types, which genes have a CDS."""

    summary = GtfSummary()
    with open_text(path) as fh:
        for lineno, line in enumerate(fh, start=1):
            if line.startswith("#") or not line.strip():
                continue
            cols = line.rstrip("\r\n").split("\t")
            if len(cols) != 9 or not cols[3].isdigit() or not cols[4].isdigit():
                if len(summary.bad_lines) < 5:
                    summary.bad_lines.append(f"line {lineno}")
                continue
            attrs = dict(_ATTR.findall(cols[8]))
            symbol = attrs.get("gene_name") or attrs.get("gene_id", "")
            start, end = int(cols[3]), int(cols[4])
            gene = summary.genes.get(symbol)
            if gene is None:
                gene = summary.genes[symbol] = GeneSpan(
                    symbol, cols[0], start, end, attrs.get("gene_type", "")
                )
            gene.start, gene.end = min(gene.start, start), max(gene.end, end)
            if cols[2] == "CDS":
                gene.coding = True
    return summary


def hpo_release(obo: Path) -> tuple[str, int]:
    """(data-version, number of [Term] stanzas) of an hp.obo[.gz]."""

    version, terms = "", 0
    with open_text(obo) as fh:
        for line in fh:
            if line.startswith("data-version:") and not version:
                version = line.split(":", 1)[1].strip()
            elif line.startswith("[Term]"):
                terms += 1
    return version, terms


def count_rows(path: Path) -> int:
    """Data rows of a gzipped TSV (lines not starting with '#', minus the header)."""

    with open_text(path) as fh:
        rows = sum(1 for line in fh if line.strip() and not line.startswith("#"))
    return max(rows - 1, 0)


def _read_bundle_file(read: Callable[[Path], T], path: Path, bundle_dir: Path) -> T:
    """`read(path)`, with a cut or damaged file as one line (`bundle info`; `validate` reports its own)."""
    hint = f"restore the file or rebuild the bundle; `biblip bundle validate {bundle_dir}` lists all problems"
    try:
        return read(path)
    except EOFError as err:
        raise BiblipError(
            "truncated compressed file: it ends in the middle of the gzip/bgzip data",
            where=str(path),
            hint=hint,
        ) from err
    except (OSError, zlib.error, UnicodeDecodeError) as err:
        raise BiblipError(f"cannot read this bundle file ({err})", where=str(path), hint=hint) from err


def bundle_summary(bundle_dir: Path) -> dict:
    """Numbers for `biblip bundle info` (reads the manifest, the .fai and the small tables)."""
    from biblip_cli.bundle import Bundle

    bundle = Bundle.open(bundle_dir)
    m = bundle.manifest
    gtf = _read_bundle_file(summarize_gtf, bundle.require("gtf"), bundle_dir)
    version, terms = _read_bundle_file(hpo_release, bundle.require("hpo_obo"), bundle_dir)
    hpo_gene_rows = _read_bundle_file(count_rows, bundle.require("hpo_genes"), bundle_dir)
    enh = bundle.path("enhancers")
    enhancer_pairs = _read_bundle_file(count_rows, enh, bundle_dir) if enh else None
    return {
        "name": m.name,
        "build": m.build,
        "regions": m.regions,
        "created": m.created,
        "contigs": bundle.genome.contigs,
        "gene_contigs": gtf.contigs,
        "aliases": dict(m.contig_aliases),
        "genes": len(gtf.genes),
        "coding": sum(g.coding for g in gtf.genes.values()),
        "proteins": len(bundle.proteins),
        "knowledge": len(bundle.knowledge),
        "hpo_release": version,
        "hpo_terms": terms,
        "hpo_gene_rows": hpo_gene_rows,
        "enhancer_pairs": enhancer_pairs,
        "files": {role: (e.path, e.size, e.sha256, e.source, e.version) for role, e in m.files.items()},
    }
