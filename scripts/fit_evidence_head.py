"""Train the evidence residual of a checkpoint's pathogenicity head (`training/evidence_head.py`).

Rows: pathogenic/benign labelled variants (`labels/protein_variants.tsv.gz`) of genes whose protein
sequence the bundle has (the residue window and paralog evidence exist only there), split by gene as
everywhere else (`evaluation/gene_splits.GeneSplits`: the checkpoint's own lists, then the rule).
Train-split rows train the residual; val and test rows are only measured, beside the head without
the residual and BLOSUM62 / Grantham on the same rows (global AUROC and mean per-gene AUROC over genes
with >= 5 of each label). Everything else in the checkpoint stays frozen.

Usage (as run for the shipped checkpoint; ~4 min on the 2-core CPU once the gene texts are cached):
    OMP_NUM_THREADS=2 python scripts/fit_evidence_head.py --bundle train_bundle --model resources/model
"""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from biblip_cli import metrics
from biblip_cli.bundle import Bundle
from biblip_cli.engine.engine import Engine
from biblip_cli.evaluation import baselines
from biblip_cli.evaluation.gene_splits import GeneSplits
from biblip_cli.io.datasets import read_labels
from biblip_cli.model.biblip import update_checkpoint
from biblip_cli.training.evidence_head import EvidenceRecipe, train_evidence_head

REPO = Path(__file__).resolve().parent.parent
DATA = REPO.parent / "shared" / "data"


def per_gene(genes: np.ndarray, y: np.ndarray, s: np.ndarray) -> tuple[float, int]:
    aucs = []
    for g in np.unique(genes):
        m = genes == g
        if y[m].sum() >= 5 and (~y[m]).sum() >= 5:
            aucs.append(metrics.auroc(y[m], s[m]))
    return (float(np.mean(aucs)) if aucs else float("nan")), len(aucs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", required=True, help="bundle with the proteins and paralogs (train_bundle)")
    ap.add_argument("--model", default=str(REPO / "resources" / "model"))
    ap.add_argument("--labels", default=str(DATA / "labels" / "protein_variants.tsv.gz"))
    ap.add_argument("--steps", type=int, default=EvidenceRecipe.steps)
    ap.add_argument("--report", help="write the val/test table (JSON) here")
    ap.add_argument("--dry-run", action="store_true", help="print the fit, leave the checkpoint alone")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    bundle = Bundle.open(args.bundle)
    engine = Engine.load(bundle, args.model, use_llm=False)
    model = engine.model
    splits = GeneSplits(bundle, engine.metadata)
    proteins = set(bundle.proteins)
    rows = [lv for lv in read_labels(Path(args.labels)) if lv.label in ("pathogenic", "benign")]
    rows = [lv for lv in rows if lv.variant.gene in proteins]
    base, pf, known = [], [], []
    for start in range(0, len(rows), 512):
        x = engine.inputs([lv.variant for lv in rows[start : start + 512]])
        with torch.inference_mode():
            base.append(model.pathogenicity_logit(model(x)).numpy())
        pf.append(x.protein_features.numpy())
        known.append((x.protein_mask & x.protein_window_mask).numpy())
    base_a, pf_a, keep = np.concatenate(base), np.concatenate(pf), np.concatenate(known)
    genes = np.array([lv.variant.gene for lv in rows])
    split = np.array([splits(g) for g in genes])
    y = np.array([lv.is_pathogenic for lv in rows])
    train = keep & (split == "train")
    print(
        f"{len(rows)} rows of genes with a protein, {keep.sum()} with a residue window; train {train.sum()}"
    )
    recipe = EvidenceRecipe(steps=args.steps)
    history = train_evidence_head(model, pf_a[train], base_a[train], y[train], genes[train], recipe)
    with torch.inference_mode():
        resid = model.evidence_head(torch.as_tensor(pf_a)).squeeze(-1).numpy()
    full = base_a + keep * resid
    blosum = baselines.fill_missing(
        np.array([baselines.blosum_deleteriousness(lv.variant.ref_aa, lv.variant.alt_aa) for lv in rows])
    )
    grantham = baselines.fill_missing(
        np.array([baselines.grantham_deleteriousness(lv.variant.ref_aa, lv.variant.alt_aa) for lv in rows])
    )
    table = []
    for name in ("val", "test"):
        m = keep & (split == name)
        for method, s in (("head + evidence residual", full), ("head alone (before)", base_a),
                          ("BLOSUM62 (-score)", blosum), ("Grantham", grantham)):  # fmt: skip
            pg, n = per_gene(genes[m], y[m], s[m])
            table.append({"split": name, "method": method, "n": int(m.sum()), "n_pathogenic": int(y[m].sum()),
                          "auroc": round(metrics.auroc(y[m], s[m]), 4), "per_gene_auroc": round(pg, 4),
                          "n_genes": n})  # fmt: skip
        spread = np.std([resid[m & (genes == g)].mean() for g in np.unique(genes[m])])
        table.append(
            {"split": name, "method": "residual: sd of its per-gene means", "value": round(float(spread), 4)}
        )
    for r in table:
        print(json.dumps(r))
    entry = {"fitted_on": Path(args.labels).name, "rows": "genes with a protein, residue window known",
             "n_train": int(train.sum()), "recipe": asdict(recipe), "history": history, "eval": table}  # fmt: skip
    if args.report:
        Path(args.report).write_text(json.dumps(entry, indent=2) + "\n")
    if args.dry_run:
        return
    out = Path(args.model)
    update_checkpoint(engine.model, out, "evidence_head", entry)
    print(f"wrote the evidence residual to {out}")


if __name__ == "__main__":
    main()
