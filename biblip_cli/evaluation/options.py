"""`biblip evaluate`'s options and where its default data files are: shared by the run and its tasks."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

TASKS = ("patho", "generate", "rank", "target", "cases")
DEFAULT_DATA = {
    "labels": "labels/protein_variants.tsv.gz",
    "pairs": "enhancers/Fulco2019_K562.GRCh38.tsv.gz",
    "abc": "enhancers/ABC_K562_Fulco2019Genes.GRCh38.tsv.gz",
    "background": "variants/common_snps.GRCh38.chr20_chr21_10M.vcf.gz",
    "hpo_genes": "hpo/genes_to_phenotype.txt.gz",
    "phenopackets": "cases/phenopackets.tsv.gz",
}


def default_data_dir() -> Path | None:
    """`$BIBLIP_DATA`, else `../shared/data` beside the checkout, else None."""
    env = os.environ.get("BIBLIP_DATA")
    if env:
        return Path(env).expanduser()
    import biblip_cli

    candidate = Path(biblip_cli.__file__).resolve().parent.parent.parent / "shared" / "data"
    return candidate if candidate.is_dir() else None


@dataclass
class EvaluateOptions:
    out: Path
    tasks: tuple[str, ...] = TASKS
    data_dir: Path | None = None
    variants: Path | None = None
    pairs: Path | None = None
    abc: Path | None = None
    cases: Path | None = None
    background: Path | None = None
    hpo_genes: Path | None = None
    phenopackets: Path | None = None  # real cases: a phenopackets .zip, folder or the flattened .tsv.gz
    cases_background: int = 300  # benign missense changes behind each real case (protein level)
    split: str = "test"  # test | val | train | all: genes kept for patho/generate/rank
    pairs_split: str = "all"  # the Fulco 2019 genes and loci are excluded from training (examples.py)
    limit: int | None = None  # overrides every per-task limit below
    patho_limit: int | None = 500
    generate_limit: int = 32
    n_cases: int = 20
    n_decoys: int = 10  # random missense SNVs per simulated case (besides the common SNPs)
    rank_shortlist: int = 20  # candidates per case that get `biblip rank`'s LLM pass
    target_limit: int | None = 200  # elements (all with a regulated gene fit in 200 for Fulco); 0/None = all
    seed: int = 13
    bundle_dir: Path | None = None
    model_dir: Path | None = None
    llm_dir: Path | None = None
    text_encoder_dir: Path | None = None
    device: str = "auto"
    no_model: bool = False
    batch_size: int = 32
    command_line: str = ""
    quiet: bool = False  # no progress (the global --quiet)

    def data_file(self, explicit: Path | None, key: str) -> Path | None:
        if explicit is not None:
            return Path(explicit)
        base = self.data_dir or default_data_dir()
        if base is None:
            return None
        path = Path(base) / DEFAULT_DATA[key]
        return path if path.is_file() else None
