"""Train the regulates head + activity token of a checkpoint and fit `biblip target`'s score (target_head).

Pairs: the CRISPRi K562 training set with the elements' DNase / H3K27ac signal, Fulco 2019 genes and
loci excluded exactly as `biblip train` does. Genes split as in training (`splits.gene_split`):
test-split pairs are only measured (the same numbers come from `biblip evaluate --tasks target
--pairs <K562 file> --pairs-split test`); the others ("fit", less any whose element overlaps a test
element) fit, in order: the transparent logistic scores (distance, closer genes, activity, ABC-style),
the head on their residual in `--folds` gene folds (out-of-fold logits), the final weights of
`engine/target_head.py` on those out-of-fold logits, and the shipped head on every fit pair.

Usage (as run for the shipped checkpoint; ~10 min on the 2-core CPU):
    OMP_NUM_THREADS=2 python scripts/fit_target_head.py --bundle train_bundle --model resources/model
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
from dataclasses import asdict
from pathlib import Path

import numpy as np

from biblip_cli import metrics
from biblip_cli.bundle import Bundle
from biblip_cli.engine.engine import Engine
from biblip_cli.engine.target_head import Logistic, TargetHead, pair_features
from biblip_cli.engine.target_prior import fit_logistic
from biblip_cli.features.activity import abc_style
from biblip_cli.features.elements import closer_gene_counts, element_annotation
from biblip_cli.features.inputs import VariantInputs
from biblip_cli.io.datasets import EnhancerPair, read_pairs
from biblip_cli.model.biblip import update_checkpoint
from biblip_cli.training.examples import HeldOutPairs
from biblip_cli.training.splits import gene_split
from biblip_cli.training.target_head import HeadRecipe, head_logits, reset_head, train_head

REPO = Path(__file__).resolve().parent.parent
DATA = REPO.parent / "shared" / "data"
WINDOW = 1_000_000


def overlaps(pair: EnhancerPair, loci: dict[str, list[tuple[int, int]]]) -> bool:
    return any(s < pair.end0 and pair.start0 < e for s, e in loci.get(pair.chrom, ()))


def split_pairs(pairs: list[EnhancerPair]) -> dict[str, list[EnhancerPair]]:
    """'fit' (train- and val-split genes) and 'test' (test-split genes); a fit pair whose element
    overlaps a test element is dropped, so test elements are unseen by locus as well as by gene."""
    out: dict[str, list[EnhancerPair]] = {"fit": [], "test": []}
    for p in pairs:
        out["test" if gene_split(p.gene, p.chrom) == "test" else "fit"].append(p)
    loci: dict[str, list[tuple[int, int]]] = {}
    for p in out["test"]:
        loci.setdefault(p.chrom, []).append((p.start0, p.end0))
    out["fit"] = [p for p in out["fit"] if not overlaps(p, loci)]
    return out


def fold_of(gene: str, k: int) -> int:
    return int(hashlib.sha1(gene.encode()).hexdigest()[:8], 16) % k


def inputs_of(engine: Engine, bundle: Bundle, pairs: list[EnhancerPair], batch: int = 256) -> VariantInputs:
    annotations = {}
    parts = []
    for start in range(0, len(pairs), batch):
        chunk = pairs[start : start + batch]
        anns = []
        for p in chunk:
            key = (p.chrom, p.start0, p.end0)
            if key not in annotations:
                annotations[key] = element_annotation(bundle, *key)
            anns.append(annotations[key])
        parts.append(engine.builder.build(anns, [p.gene for p in chunk], [p.activity for p in chunk]))
    return VariantInputs.cat(parts)


def geometry(bundle: Bundle, pairs: list[EnhancerPair]) -> tuple[list[float], list[float]]:
    distance, closer = [], []
    for p in pairs:
        centre = (p.start0 + p.end0) // 2
        distance.append(float(centre - p.tss0))
        closer.append(float(closer_gene_counts(bundle, p.chrom, centre, [p.gene], WINDOW)[0]))
    return distance, closer


def fit(x: np.ndarray, y: np.ndarray) -> Logistic:
    w, b = fit_logistic(x, y, l2=1e-2)
    return Logistic(tuple(w), b)


def row(name: str, y: np.ndarray, s: np.ndarray, pairs: list[EnhancerPair]) -> dict:
    groups: dict[tuple, list[int]] = {}
    for i, p in enumerate(pairs):
        groups.setdefault((p.chrom, p.start0, p.end0), []).append(i)
    top1, n_el = metrics.top1_accuracy([(y[idx], s[idx]) for idx in groups.values()])
    return {"method": name, "auprc": round(metrics.average_precision(y, s), 4), "auroc": round(metrics.auroc(y, s), 4),
            "precision_at_70_recall": round(metrics.precision_at_recall(y, s, 0.7), 4),
            "top1": round(top1, 4), "n_elements_with_positive": n_el}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", required=True, help="bundle with a genome-wide gene model (train_bundle)")
    ap.add_argument("--model", default=str(REPO / "resources" / "model"))
    ap.add_argument("--pairs", default=str(DATA / "enhancers" / "crispr_K562_training.GRCh38.tsv.gz"))
    ap.add_argument("--exclude", default=str(DATA / "enhancers" / "Fulco2019_K562.GRCh38.tsv.gz"))
    ap.add_argument("--epochs", type=int, default=HeadRecipe.epochs)
    ap.add_argument("--folds", type=int, default=4, help="cross-fitting folds (by gene)")
    ap.add_argument("--report", help="write the test-split table (JSON) here")
    ap.add_argument("--dry-run", action="store_true", help="print the fit, leave the checkpoint alone")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    bundle = Bundle.open(args.bundle)
    held_out = HeldOutPairs.read(Path(args.exclude))
    pairs = [p for p in read_pairs(Path(args.pairs)) if held_out.reason(p) is None and p.tss0 is not None]
    splits = split_pairs(pairs)
    for name, part in splits.items():
        print(f"{name}: {len(part)} pairs, {sum(p.regulated for p in part)} regulated, "
              f"{len({p.gene for p in part})} genes")  # fmt: skip
    engine = Engine.load(bundle, args.model, use_llm=False)
    model = engine.model
    x = {k: inputs_of(engine, bundle, v) for k, v in splits.items()}
    y = {k: np.array([p.regulated for p in v]) for k, v in splits.items()}
    geo = {k: geometry(bundle, v) for k, v in splits.items()}
    acts = {k: [p.activity for p in v] for k, v in splits.items()}

    def feats(k: str, with_activity: bool, head: np.ndarray | None = None) -> np.ndarray:
        return pair_features(*geo[k], acts[k], head, with_activity=with_activity)

    # 1. the transparent scores (no model): the head's offsets and the ablation rows
    base_with, base_without = fit(feats("fit", True), y["fit"]), fit(feats("fit", False), y["fit"])
    offset = base_with.log_odds(feats("fit", True)), base_without.log_odds(feats("fit", False))
    # 2. cross-fitting by gene: out-of-fold head logits, on which the final weights are fitted
    recipe = HeadRecipe(epochs=args.epochs)
    folds = np.array([fold_of(p.gene, args.folds) for p in splits["fit"]])
    oof_with, oof_without = np.zeros(len(folds)), np.zeros(len(folds))
    for k in range(args.folds):
        train, held = np.flatnonzero(folds != k), np.flatnonzero(folds == k)
        reset_head(model, seed=k)
        train_head(
            model, x["fit"].select(list(train)), y["fit"][train], offset[0][train], offset[1][train], recipe
        )
        part = x["fit"].select(list(held))
        oof_with[held], oof_without[held] = head_logits(model, part), head_logits(model, part, activity=False)
        print(f"fold {k}: {len(held)} pairs, out-of-fold head AUPRC "
              f"{metrics.average_precision(y['fit'][held], oof_with[held]):.3f}")  # fmt: skip
    with_act = fit(feats("fit", True, oof_with), y["fit"])
    without_act = fit(feats("fit", False, oof_without), y["fit"])
    # 3. the shipped head: every fit pair
    reset_head(model, seed=args.folds)
    history = train_head(model, x["fit"], y["fit"], offset[0], offset[1], recipe)
    head, head_off = head_logits(model, x["test"]), head_logits(model, x["test"], activity=False)
    target = TargetHead(with_act, without_act)
    yt, pt = y["test"], splits["test"]
    d_test = np.asarray(geo["test"][0])
    abc = np.array([abc_style(a, d) or 0.0 for a, d in zip(acts["test"], d_test)])
    rows = [
        row(
            "biblip target (head + activity + distance)", yt, with_act.log_odds(feats("test", True, head)), pt
        ),
        row("same score without the head (ablation)", yt, base_with.log_odds(feats("test", True)), pt),
        row("biblip regulates head alone (with activity)", yt, head, pt),
        row(
            "biblip target without activity (plain BED)",
            yt,
            without_act.log_odds(feats("test", False, head_off)),
            pt,
        ),
        row(
            "distance + closer genes, no head (ablation)", yt, base_without.log_odds(feats("test", False)), pt
        ),
        row("ABC-style (activity x power-law contact)", yt, abc, pt),
        row("distance to TSS (inverse)", yt, -np.abs(d_test), pt),
    ]
    for r in rows:
        print(json.dumps(r))
    entry = target.to_metadata(
        fitted_on=Path(args.pairs).name, excluded=Path(args.exclude).name, n_fit_pairs=len(splits["fit"]),
        n_test_pairs=len(splits["test"]), folds=args.folds, window=WINDOW, recipe=asdict(recipe), history=history,
        test=rows, oof_head_auprc=metrics.average_precision(y["fit"], oof_with),
        no_head={"with_activity": {"weights": list(base_with.weights), "bias": base_with.bias},
                 "without_activity": {"weights": list(base_without.weights), "bias": base_without.bias}},
    )  # fmt: skip
    print(json.dumps({k: v for k, v in entry.items() if k not in ("history", "test")}, indent=2))
    if args.report:
        Path(args.report).write_text(json.dumps({"splits": {k: len(v) for k, v in splits.items()}, "test": rows,
                                                 "target_head": entry}, indent=2) + "\n")  # fmt: skip
    if args.dry_run:
        return
    out = Path(args.model)
    update_checkpoint(engine.model, out, "target_head", entry)
    print(f"wrote the head, the activity token and target_head to {out}")


if __name__ == "__main__":
    main()
