"""What `biblip train` is told: the presets' recipes, TrainOptions, the data folder."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from biblip_cli.errors import BiblipError
from biblip_cli.training.example_set import ExampleSet
from biblip_cli.training.examples import DATA_FILES, PHENOPACKETS, build_examples

log = logging.getLogger(__name__)


@dataclass
class Recipe:
    """Steps and batch sizes of one preset (`default`: one stage-1 pass over every training gene's items,
    ~60k, and 600 stage-2 steps: < 90 min on 2 CPU cores once the texts are embedded, see the model card)."""

    stage1_steps: int
    stage2_steps: int
    batch1: int
    batch2: int
    lr1: float = 1e-3
    lr2: float = 3e-4
    eval_items: int = 512  # val pathogenicity items scored by the cheap head / the LLM
    eval_llm_items: int = 256
    eval_every: int = 0  # steps; 0 = at the end of each stage only
    max_train_genes: int | None = None  # None: every train gene; N: the items of N of them (quick runs)
    mix: dict[str, float] = field(
        default_factory=lambda: {"pathogenicity": 0.5, "phenotype": 0.2, "regulates": 0.15, "describe": 0.15}
    )


RECIPES = {
    "tiny": Recipe(stage1_steps=6, stage2_steps=4, batch1=8, batch2=4, eval_items=16, eval_llm_items=8),
    "default": Recipe(stage1_steps=940, stage2_steps=600, batch1=64, batch2=16),
    "large": Recipe(stage1_steps=20000, stage2_steps=8000, batch1=256, batch2=64, lr1=3e-4, lr2=1e-4,
                    eval_items=4096, eval_llm_items=2048, eval_every=2000),
}  # fmt: skip


@dataclass
class TrainOptions:
    out: Path
    bundle: Path
    data: Path | None = None  # folder laid out like ../shared/data (labels/, enhancers/)
    preset: str = "default"
    seed: int = 0
    epochs: float | None = None  # stage 1 passes over the training items (overrides stage1_steps)
    stage1_steps: int | None = None
    stage2_steps: int | None = None
    batch1: int | None = None
    batch2: int | None = None
    resume: bool = False
    device: str = "auto"
    max_minutes: float | None = None
    llm_dir: Path | None = None
    text_encoder_dir: Path | None = None
    save_every_steps: int = 200
    save_every_minutes: float = 5.0
    max_train_genes: int | None = None  # overrides the recipe's
    stop_after_steps: int | None = None  # total steps this call runs (tests: interrupt and resume)
    progress: bool = True
    model_overrides: dict[str, Any] = field(default_factory=dict)
    init_from: Path | None = None  # warm start from an earlier checkpoint (`model.biblip.warm_start`)


def default_data_dir() -> Path:
    """`$BIBLIP_DATA`, else `../shared/data` beside the repository."""
    env = os.environ.get("BIBLIP_DATA")
    if env:
        return Path(env)
    import biblip_cli

    return Path(biblip_cli.__file__).resolve().parent.parent.parent / "shared" / "data"


def load_examples(bundle: Any, data_dir: Path | None) -> ExampleSet:
    """The training examples from `data_dir` (else `default_data_dir()`); each data file must exist."""
    data = Path(data_dir) if data_dir else default_data_dir()
    paths = {k: data / v for k, v in DATA_FILES.items()}
    for role, path in paths.items():
        if not path.is_file():
            raise BiblipError(f"training {role} file not found", where=str(path), hint="pass --data DIR")
    log.info("building examples from %s", data)
    cases = data / PHENOPACKETS  # optional: real patients' phenotype questions where the cases are present
    return build_examples(
        bundle,
        paths["labels"],
        paths["crispr"],
        paths["fulco"],
        phenopackets_path=cases if cases.is_file() else None,
    )
