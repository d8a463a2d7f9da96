"""The options and the end-of-run counts of `biblip annotate` (shared by the run and its writers)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class AnnotateOptions:
    input: str
    output: str = "-"
    bundle_dir: Path | None = None
    model_dir: Path | None = None
    llm_dir: Path | None = None
    text_encoder_dir: Path | None = None
    explain: bool = False
    no_model: bool = False
    no_llm: bool = False  # cheap path: Q-former pathogenicity head, the LLM is not loaded
    score: str | None = None  # "head" | "llm" | None = the checkpoint's reported_pathogenicity
    tsv: Path | None = None
    output_type: str = "v"
    region: str | None = None
    shard: str | None = None
    batch_size: int = 256
    device: str = "auto"
    threads: int | None = None
    resume: bool = False
    command_line: str = ""
    quiet: bool = False
    overwrite_info: bool = False  # replace an input's own BIOBLIP* INFO declarations of another type
    write_index: bool = False  # .csi for -O b (-O z always gets its .tbi)
    force: bool = False  # run with an LLM whose sha256 differs from the checkpoint's record
    pick: bool = False  # one transcript per allele (features/picking.py order)
    canonical_only: bool = False  # only canonical transcripts

    def output_options(self) -> dict[str, Any]:
        """The options that change what is written (the resume fingerprint)."""
        return {
            "bundle": str(self.bundle_dir),
            "model": None if self.no_model else str(self.model_dir),
            "llm": None if self.no_model else str(self.llm_dir),
            "text_encoder": None if self.no_model else str(self.text_encoder_dir),
            "explain": self.explain,
            "no_llm": self.no_llm,
            "score": self.score,
            "tsv": self.tsv is not None,
            "region": self.region,
            "shard": self.shard,
            "pick": self.pick,
            "canonical_only": self.canonical_only,
        }


@dataclass
class AnnotateSummary:
    records: int = 0  # records written
    alleles: int = 0
    model_scored: int = 0  # alleles with a model pathogenicity (inside the checkpoint's domain)
    seconds: float = 0.0
    by_consequence: Counter = field(default_factory=Counter)
    by_status: Counter = field(default_factory=Counter)
    unknown_contigs: list[str] = field(default_factory=list)
    output: str = "-"
    tsv: str | None = None

    @property
    def alleles_per_s(self) -> float:
        return self.alleles / self.seconds if self.seconds > 0 else 0.0

    def counters(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "alleles": self.alleles,
            "model_scored": self.model_scored,
            "by_consequence": dict(self.by_consequence),
            "by_status": dict(self.by_status),
            "unknown_contigs": self.unknown_contigs,
        }

    def add(self, other: AnnotateSummary) -> None:
        """Count a batch another process summarised (annotate_workers)."""
        self.records += other.records
        self.alleles += other.alleles
        self.model_scored += other.model_scored
        self.by_consequence.update(other.by_consequence)
        self.by_status.update(other.by_status)

    def restore(self, data: dict[str, Any]) -> None:
        self.records = data.get("records", 0)
        self.alleles = data.get("alleles", 0)
        self.model_scored = data.get("model_scored", 0)
        self.by_consequence = Counter(data.get("by_consequence", {}))
        self.by_status = Counter(data.get("by_status", {}))
        self.unknown_contigs = list(data.get("unknown_contigs", []))


def infer_output_type(output: str, output_type: str | None) -> str:
    """`-O` if given, else from the name as bcftools does (`.bcf` b, `.gz`/`.bgz` z, else v)."""
    from biblip_cli.io.vcf_compress import infer_output_type as infer

    return infer(output, output_type)
