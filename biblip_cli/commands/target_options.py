"""`biblip target`'s options, its run summary and the TSV columns it writes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

VCF_TSV_COLUMNS = ("chrom", "pos", "ref", "alt", "gene", "distance", "score", "rank")
BED_TSV_COLUMNS = ("chrom", "start", "end", "name", "gene", "distance", "score", "rank")


@dataclass
class TargetOptions:
    input: str | None = None  # VCF; None with `elements`
    elements: Path | None = None  # BED: chrom, start, end[, name]
    output: str = "-"
    tsv: Path | None = None
    output_type: str = "v"
    bundle_dir: Path | None = None
    model_dir: Path | None = None
    llm_dir: Path | None = None
    text_encoder_dir: Path | None = None
    window: int = 1_000_000
    max_genes: int = 20
    top: int | None = None
    include_coding: bool = False
    no_model: bool = False
    batch_size: int = 256
    device: str = "auto"
    threads: int | None = None
    region: str | None = None
    shard: str | None = None
    resume: bool = False
    command_line: str = ""

    def fingerprint_options(self) -> dict[str, Any]:
        """The options that change the output (a `--resume` must use the same)."""
        return {
            name: str(getattr(self, name))
            for name in (
                "tsv", "output_type", "bundle_dir", "model_dir", "llm_dir", "text_encoder_dir", "window",
                "max_genes", "top", "include_coding", "no_model", "region", "shard",
            )
        }  # fmt: skip


Progress = Callable[[int, int], None]  # (records written, allele x gene pairs scored)


@dataclass
class TargetSummary:
    records: int = 0
    alleles: int = 0
    scored: int = 0  # alleles or elements with >= 1 candidate gene
    skipped_coding: int = 0
    no_candidates: int = 0
    pairs: int = 0
    seconds: float = 0.0
    scorer: str = "model"
    by_gene: dict[str, int] = field(default_factory=dict)
    load_seconds: float = 0.0  # bundle + model start-up, inside `seconds`

    _COUNTED = ("records", "alleles", "scored", "skipped_coding", "no_candidates", "pairs", "by_gene")

    def counters(self) -> dict[str, Any]:
        """What a `--resume` checkpoint keeps (`restore` puts it back)."""
        return {name: getattr(self, name) for name in self._COUNTED}

    def restore(self, counters: dict[str, Any]) -> None:
        for name in self._COUNTED:
            if name in counters:
                setattr(self, name, dict(counters[name]) if name == "by_gene" else int(counters[name]))


def print_target_summary(summary: TargetSummary) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="biblip target", header_style="bold")
    table.add_column("what")
    table.add_column("value", justify="right")
    rows = [
        ("scorer", summary.scorer),
        ("records written", str(summary.records)),
        ("alleles / elements read", str(summary.alleles)),
        ("scored (>= 1 candidate gene)", str(summary.scored)),
        ("skipped as coding", str(summary.skipped_coding)),
        ("no gene within the window", str(summary.no_candidates)),
        ("allele x gene pairs reported", str(summary.pairs)),
        ("time", f"{summary.seconds:.1f} s ({summary.load_seconds:.1f} s start-up)"),
    ]
    work = summary.seconds - summary.load_seconds
    if summary.pairs and work > 0:
        rows.append(("pairs per second (after start-up)", f"{summary.pairs / work:,.0f}"))
    for what, value in rows:
        table.add_row(what, value)
    Console(stderr=True).print(table)
