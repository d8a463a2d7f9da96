"""What each modality adds to the reported pathogenicity score: mask one at a time on the same rows.

Rows: pathogenic/benign labelled variants of test-split genes (`GeneSplits`, as `biblip evaluate`),
protein-level as the labels file gives them: they have no genomic position, so the DNA modality is
absent on every row and its ablation row equals the full one (the DNA's share can only be measured on
genomic alleles with sequence, ~270 training variants; docs/model_card.md). For every row the score is
computed with all modalities, then with DNA, gene context, protein (change + window), the residue window
alone, text (knowledge snippets) and the evidence residual each masked in turn, beside BLOSUM62 and
Grantham on the same rows; global AUROC and mean per-gene AUROC (genes with >= 5 of each label).

Usage (the model card's table; ~3 min on the 2-core CPU):
    OMP_NUM_THREADS=2 python scripts/modality_ablation.py --bundle train_bundle --model resources/model
"""

from __future__ import annotations

import argparse
import json
import random
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from biblip_cli import metrics
from biblip_cli.bundle import Bundle
from biblip_cli.engine.engine import Engine
from biblip_cli.evaluation.gene_splits import GeneSplits
from biblip_cli.features.inputs import VariantInputs
from biblip_cli.io.datasets import read_labels

REPO = Path(__file__).resolve().parent.parent
DATA = REPO.parent / "shared" / "data"

MASKS = {
    "all modalities": lambda x: x,
    "without DNA": lambda x: replace(x, dna_mask=torch.zeros_like(x.dna_mask)),
    "without gene context": lambda x: replace(x, gene_mask=torch.zeros_like(x.gene_mask)),
    "without protein (change + window)": lambda x: replace(
        x,
        protein_mask=torch.zeros_like(x.protein_mask),
        protein_window_mask=torch.zeros_like(x.protein_window_mask),
    ),
    "without the residue window": lambda x: replace(
        x, protein_window_mask=torch.zeros_like(x.protein_window_mask)
    ),
    "without text (knowledge)": lambda x: replace(x, text_mask=torch.zeros_like(x.text_mask)),
}


def per_gene(genes: np.ndarray, y: np.ndarray, s: np.ndarray) -> tuple[float, int]:
    aucs = [metrics.auroc(y[genes == g], s[genes == g]) for g in np.unique(genes)
            if y[genes == g].sum() >= 5 and (~y[genes == g]).sum() >= 5]  # fmt: skip
    return (float(np.mean(aucs)) if aucs else float("nan")), len(aucs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", required=True)
    ap.add_argument("--model", default=str(REPO / "resources" / "model"))
    ap.add_argument("--labels", default=str(DATA / "labels" / "protein_variants.tsv.gz"))
    ap.add_argument("--split", default="test")
    ap.add_argument("--limit", type=int, default=4000, help="rows (seeded sample)")
    ap.add_argument("--json", type=Path, help="also write the table here")
    args = ap.parse_args()
    bundle = Bundle.open(args.bundle)
    engine = Engine.load(bundle, args.model, use_llm=False)
    model, splits = engine.model, GeneSplits(bundle, engine.metadata)
    rows = [lv for lv in read_labels(Path(args.labels)) if lv.label in ("pathogenic", "benign")]
    rows = [lv for lv in rows if splits(lv.variant.gene) == args.split]
    rows = random.Random(13).sample(rows, min(args.limit, len(rows)))
    x = VariantInputs.cat(
        [engine.inputs([lv.variant for lv in rows[i : i + 512]]) for i in range(0, len(rows), 512)]
    )
    y = np.array([lv.is_pathogenic for lv in rows])
    genes = np.array([lv.variant.gene for lv in rows])
    table = []
    with torch.inference_mode():
        for name, mask in MASKS.items():
            masked = mask(x)
            for residual in (True, False) if name == "all modalities" else (True,):
                logits = []
                for i in range(0, len(rows), 512):
                    part = masked.select(list(range(i, min(i + 512, len(rows)))))
                    logits.append(model.pathogenicity_logit(model(part), part if residual else None).numpy())
                s = np.concatenate(logits)
                pg, n = per_gene(genes, y, s)
                label = name if residual else "without the evidence residual (head alone)"
                table.append({"ablation": label, "auroc": round(metrics.auroc(y, s), 4), "per_gene_auroc": round(pg, 4),
                              "n_genes": n, "n": len(rows), "n_pathogenic": int(y.sum())})  # fmt: skip
                print(json.dumps(table[-1]))
    from biblip_cli.evaluation import baselines

    for name, fn in (
        ("BLOSUM62 (-score)", baselines.blosum_deleteriousness),
        ("Grantham", baselines.grantham_deleteriousness),
    ):
        s = baselines.fill_missing(np.array([fn(lv.variant.ref_aa, lv.variant.alt_aa) for lv in rows]))
        pg, n = per_gene(genes, y, s)
        table.append({"ablation": name, "auroc": round(metrics.auroc(y, s), 4), "per_gene_auroc": round(pg, 4),
                      "n_genes": n, "n": len(rows), "n_pathogenic": int(y.sum())})  # fmt: skip
        print(json.dumps(table[-1]))
    if args.json:
        args.json.write_text(json.dumps(table, indent=2) + "\n")


if __name__ == "__main__":
    main()
