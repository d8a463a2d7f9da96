"""Fit the target-gene score of a checkpoint (`engine/target_prior.py`) and write it to its metadata.json.

Pairs: the CRISPRi K562 training set, Fulco 2019 genes and loci excluded exactly as `biblip train` does,
so `biblip evaluate --tasks target` on Fulco 2019 stays held out. Step 1 (distance prior) uses every
pair; step 2 (prior scale, model weight, bias) only pairs of val/test-split genes (`splits.gene_split`,
the split used in training), scored by the checkpoint.

Usage (as run for the shipped checkpoint; ~3 min on the 2-core CPU with 2 threads):
    OMP_NUM_THREADS=2 python scripts/fit_target_prior.py --bundle train_bundle --model resources/model
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from biblip_cli import metrics
from biblip_cli.bundle import Bundle
from biblip_cli.engine.engine import Engine
from biblip_cli.engine.target_prior import fit_target_prior
from biblip_cli.features.elements import closer_gene_counts, element_annotation, score_pairs
from biblip_cli.io.datasets import read_pairs
from biblip_cli.training.examples import HeldOutPairs
from biblip_cli.training.splits import gene_split

REPO = Path(__file__).resolve().parent.parent
DATA = REPO.parent / "shared" / "data"
WINDOW = 1_000_000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", required=True, help="bundle with a genome-wide gene model (train_bundle)")
    ap.add_argument("--model", default=str(REPO / "resources" / "model"))
    ap.add_argument("--pairs", default=str(DATA / "enhancers" / "crispr_K562_training.GRCh38.tsv.gz"))
    ap.add_argument("--exclude", default=str(DATA / "enhancers" / "Fulco2019_K562.GRCh38.tsv.gz"))
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--dry-run", action="store_true", help="print the fit, leave metadata.json alone")
    args = ap.parse_args()

    bundle = Bundle.open(args.bundle)
    held_out = HeldOutPairs.read(Path(args.exclude))  # the same exclusion as training
    pairs = [p for p in read_pairs(Path(args.pairs)) if held_out.reason(p) is None]
    pairs = [p for p in pairs if p.tss0 is not None]
    distance, closer = [], []
    for p in pairs:
        centre = (p.start0 + p.end0) // 2
        distance.append(float(centre - p.tss0))
        closer.append(closer_gene_counts(bundle, p.chrom, centre, [p.gene], WINDOW)[0])
    held = np.array([gene_split(p.gene, p.chrom) in ("val", "test") for p in pairs])
    labels = np.array([p.regulated for p in pairs])
    print(
        f"{len(pairs)} pairs ({labels.sum()} regulated); {held.sum()} of held-out genes ({labels[held].sum()})"
    )

    engine = Engine.load(bundle, args.model, batch_size=args.batch_size)
    rows = np.flatnonzero(held)
    model = np.full(len(pairs), np.nan)
    annotations = [element_annotation(bundle, pairs[i].chrom, pairs[i].start0, pairs[i].end0) for i in rows]
    model[rows] = score_pairs(engine, annotations, [pairs[i].gene for i in rows], args.batch_size)
    fit = fit_target_prior(distance, closer, labels, held, model)
    d, c, m, y = (np.asarray(v)[held] for v in (distance, closer, model, labels))
    for name, s in (
        ("inverse distance", -np.abs(d)),
        ("model alone", m),
        ("distance prior", fit.prior(d, c)),
        ("prior + model", fit.log_odds(d, c, m)),
    ):
        print(f"held-out pairs (in-sample for step 2): {name:18s} AUPRC {metrics.average_precision(y, s):.3f} "
              f"AUROC {metrics.auroc(y, s):.3f}")  # fmt: skip
    entry = fit.to_metadata(
        fitted_on=Path(args.pairs).name,
        excluded=Path(args.exclude).name,
        n_pairs=len(pairs),
        n_held_out_pairs=int(held.sum()),
        window=WINDOW,
    )
    print(json.dumps(entry, indent=2))
    if args.dry_run:
        return
    meta_path = Path(args.model) / "metadata.json"
    meta = json.loads(meta_path.read_text())
    meta["target_prior"] = entry
    fd, tmp = tempfile.mkstemp(dir=meta_path.parent, suffix=".tmp")
    with os.fdopen(fd, "w") as fh:
        fh.write(json.dumps(meta, indent=2) + "\n")
    os.replace(tmp, meta_path)
    print(f"wrote target_prior to {meta_path}")


if __name__ == "__main__":
    main()
