"""Train the describe residual of a checkpoint's prefix (`training/describe_head.py`).

Rows: pathogenic/benign labelled variants (`labels/protein_variants.tsv.gz`) of train-split genes
(`evaluation/gene_splits.GeneSplits`: the checkpoint's own lists, then the rule), at most
`--per-gene` of each label per gene so that many genes are seen; the val loss is measured on val-split
genes. Test-split genes are never read. Only `describe_delta` learns, so every score is unchanged.

Usage (as run for the shipped checkpoint; ~4 s a step on the 2-core CPU; `--resume` continues):
    OMP_NUM_THREADS=2 python scripts/fit_describe_head.py --bundle train_bundle --model resources/model \
        --steps 400 --max-minutes 40 --state describe_state.pt
"""

from __future__ import annotations

import argparse
import json
import logging
import random
from collections import defaultdict
from dataclasses import asdict
from pathlib import Path

import torch

from biblip_cli.bundle import Bundle
from biblip_cli.engine.engine import Engine
from biblip_cli.evaluation.gene_splits import GeneSplits
from biblip_cli.io.datasets import LabeledVariant, read_labels
from biblip_cli.model.biblip import update_checkpoint
from biblip_cli.training.describe_head import DescribeRecipe, describe_target, train_describe_head

REPO = Path(__file__).resolve().parent.parent
DATA = REPO.parent / "shared" / "data"


def pick_rows(rows: list[LabeledVariant], per_gene: int, seed: int) -> list[LabeledVariant]:
    by_key: dict[tuple[str, str], list[LabeledVariant]] = defaultdict(list)
    for lv in rows:
        by_key[(lv.variant.gene, lv.label)].append(lv)
    rng = random.Random(seed)
    out: list[LabeledVariant] = []
    for key in sorted(by_key):
        group = by_key[key]
        rng.shuffle(group)
        out.extend(group[:per_gene])
    return out


def queries(engine: Engine, rows: list[LabeledVariant]) -> torch.Tensor:
    parts = []
    for start in range(0, len(rows), 256):
        x = engine._variant_view(engine.inputs([lv.variant for lv in rows[start : start + 256]]))
        parts.append(engine._z(x).clone())
    return torch.cat(parts)


def fit_label_bias(engine: Engine, rows: list[LabeledVariant]) -> dict:
    """The class threshold of the describe grammar: the bias added to the "pathogenic" log-odds that
    maximises accuracy on `rows` (val-split genes, their natural class balance)."""
    import numpy as np

    from biblip_cli.model.describe import label_log_odds
    from biblip_cli.model.prompts import describe_prompt

    instruction = describe_prompt().instruction
    parts = []
    for start in range(0, len(rows), 32):
        x = engine._variant_view(engine.inputs([lv.variant for lv in rows[start : start + 32]]))
        with torch.inference_mode():
            parts.append(
                label_log_odds(engine.llm, engine.model.describe_prefix(engine._z(x)), instruction)[1]
            )
    s = torch.cat(parts).numpy()
    y = np.array([lv.label == "pathogenic" for lv in rows])
    candidates = np.concatenate([[0.0], -s])  # thresholds at each row's score (and none)
    accuracy = [float(((s + b > 0) == y).mean()) for b in candidates]
    best = int(np.argmax(accuracy))
    bias = float(candidates[best]) - 1e-4 if best else 0.0
    return {"label_bias": round(bias, 4), "val_rows": len(rows), "val_pathogenic": int(y.sum()),
            "val_accuracy_unbiased": round(accuracy[0], 4), "val_accuracy": round(float(((s + bias > 0) == y).mean()), 4)}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", required=True, help="genome-wide bundle (train_bundle)")
    ap.add_argument("--model", default=str(REPO / "resources" / "model"))
    ap.add_argument(
        "--llm", help="the frozen LLM folder the checkpoint was trained with (default: the prepared one)"
    )
    ap.add_argument("--labels", default=str(DATA / "labels" / "protein_variants.tsv.gz"))
    ap.add_argument("--per-gene", type=int, default=3, help="rows per gene and label")
    ap.add_argument("--steps", type=int, default=DescribeRecipe.steps)
    ap.add_argument("--max-minutes", type=float, default=DescribeRecipe.max_minutes)
    ap.add_argument("--state", help="resume state file (written every few steps)")
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--dry-run", action="store_true", help="train, leave the checkpoint alone")
    ap.add_argument(
        "--bias-only", action="store_true", help="refit the class threshold of a trained residual"
    )
    ap.add_argument("--bias-rows", type=int, default=400, help="val-split rows the threshold is fitted on")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    bundle = Bundle.open(args.bundle)
    engine = Engine.load(bundle, args.model, llm_dir=args.llm, batch_size=32)
    splits = GeneSplits(bundle, engine.metadata)
    knowledge = bundle.knowledge
    labelled = [
        lv for lv in read_labels(Path(args.labels))
        if lv.label in ("pathogenic", "benign") and lv.variant.gene in knowledge
    ]  # fmt: skip
    train = pick_rows([lv for lv in labelled if splits(lv.variant.gene) == "train"], args.per_gene, 0)
    val = pick_rows([lv for lv in labelled if splits(lv.variant.gene) == "val"], 1, 1)
    natural = [lv for lv in labelled if splits(lv.variant.gene) == "val"]
    random.Random(3).shuffle(natural)
    natural = natural[: args.bias_rows]
    if args.bias_only:
        entry = dict(engine.metadata.get("describe_head") or {})
        entry.update(fit_label_bias(engine, natural))
        print(json.dumps({k: v for k, v in entry.items() if k != "history"}))
        if not args.dry_run:
            update_checkpoint(engine.model, Path(args.model), "describe_head", entry)
        return
    random.Random(2).shuffle(val)
    val = val[:64]
    genes = {lv.variant.gene for lv in train}
    print(f"{len(train)} train rows of {len(genes)} genes; {len(val)} val rows")
    z, val_z = queries(engine, train), queries(engine, val)

    def make_target(row: int, rng: random.Random) -> str:
        lv = train[row]
        return " " + describe_target(lv.variant, lv.label, knowledge.get(lv.variant.gene), rng)

    val_targets = [
        " " + describe_target(lv.variant, lv.label, knowledge.get(lv.variant.gene), None) for lv in val
    ]
    print("example target:", make_target(0, random.Random(0)))
    recipe = DescribeRecipe(steps=args.steps, max_minutes=args.max_minutes)
    history = train_describe_head(
        engine.model, engine.llm, z, make_target, val_z, val_targets, recipe,
        state_path=Path(args.state) if args.state else None, resume=args.resume,
    )  # fmt: skip
    done = history[-1]["step"] if history else 0
    entry = {"fitted_on": Path(args.labels).name, "n_train": len(train), "n_train_genes": len(genes),
             "n_val": len(val), "steps_done": done, "recipe": asdict(recipe),
             "history": [h for h in history if "val_loss" in h]}  # fmt: skip
    entry.update(fit_label_bias(engine, natural))
    print(json.dumps(entry["history"]), entry["label_bias"])
    if args.dry_run:
        return
    update_checkpoint(engine.model, Path(args.model), "describe_head", entry)
    print(f"wrote the describe residual to {args.model} (step {done} of {recipe.steps})")


if __name__ == "__main__":
    main()
