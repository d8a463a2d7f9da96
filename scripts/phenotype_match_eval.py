"""Does the model's phenotype match add anything to HPO similarity? (issue 13, item 3)

Scores the real patients' phenotype questions that `biblip train` asks (`training/phenopacket_examples`),
on val and test-split genes only: for each published case with a missense cause, the causal variant
("yes") and the hard negative's variant, the causal variant of the same-split gene whose patients share
the most terms ("no"), each asked with the patient's three most specific terms. Methods, on the same
questions:
- biblip phenotype match: the frozen LLM's log-odds " yes" vs " no" given the Q-former prefix (what
  `biblip rank --phenotype-match` adds to the score);
- HPO similarity: the variant's gene against the patient's observed terms (what `biblip rank` and
  `--no-model` use), and against the three named terms only (what the model is shown);
- rank's sum: PHENO_WEIGHT x similarity + phenotype match (the `--phenotype-match` score, no
  pathogenicity: both variants of a question are pathogenic), and a logistic fit on val of the two.
Metrics: AUROC over all answers, and pair accuracy (the causal variant above its hard negative).

Usage (~3 min per split on the 2-core CPU):
    OMP_NUM_THREADS=2 python scripts/phenotype_match_eval.py --bundle train_bundle --model resources/model \\
        --report phenotype_match.json
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np

from biblip_cli import metrics
from biblip_cli.bundle import Bundle
from biblip_cli.engine.engine import Engine
from biblip_cli.evaluation.gene_splits import GeneSplits
from biblip_cli.evaluation.real_cases import GenePhenotypeIndex
from biblip_cli.features.phenotype import HpoOntology
from biblip_cli.io.case_records import read_case_records
from biblip_cli.ranking.scoring import PHENO_WEIGHT
from biblip_cli.training.phenopacket_examples import phenopacket_questions

REPO = Path(__file__).resolve().parent.parent
DATA = REPO.parent / "shared" / "data"


def _logistic(x: np.ndarray, y: np.ndarray, steps: int = 2000, lr: float = 0.5) -> np.ndarray:
    """Weights (with intercept last) of a plain logistic regression on standardised columns."""
    xb = np.column_stack([x, np.ones(len(x))])
    w = np.zeros(xb.shape[1])
    for _ in range(steps):
        p = 1 / (1 + np.exp(-xb @ w))
        w -= lr * xb.T @ (p - y) / len(y)
    return w


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", required=True, help="bundle with genome-wide HPO and proteins (train_bundle)")
    ap.add_argument("--model", default=str(REPO / "resources" / "model"))
    ap.add_argument("--cases", default=str(DATA / "cases" / "phenopackets.tsv.gz"))
    ap.add_argument("--limit", type=int, default=0, help="at most this many questions per split (0: all)")
    ap.add_argument("--report", help="write the table (JSON) here")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    bundle = Bundle.open(args.bundle)
    engine = Engine.load(bundle, args.model, use_llm=True)
    hpo = HpoOntology.from_bundle(bundle)
    splits = GeneSplits(bundle, engine.metadata)
    questions, counts = phenopacket_questions(read_case_records(Path(args.cases)), hpo, splits)
    questions = [q for q in questions if q.negative is not None and q.item.split in ("val", "test")]
    genes = sorted({q.item.gene for q in questions} | {q.negative.gene for q in questions})
    index = GenePhenotypeIndex(hpo, genes)
    scored: dict[str, dict[str, list]] = {}
    for split in ("val", "test"):
        qs = [q for q in questions if q.item.split == split]
        if args.limit:
            qs = qs[: args.limit]
        cols: dict[str, list] = {"y": [], "match": [], "sim": [], "sim_named": [], "pair": []}
        for i, q in enumerate(qs):
            names = [hpo.term(t).name for t in q.named]
            match = engine.phenotype_match([q.item.protein, q.negative.protein], names)
            sim_all = index.similarity(q.case.observed)
            sim_named = index.similarity([hpo.term(t).id for t in q.named])
            for j, (item, y) in enumerate(((q.item, 1), (q.negative, 0))):
                row = index.row.get(item.gene)
                cols["y"].append(y)
                cols["match"].append(float(match[j]))
                cols["sim"].append(float(sim_all[row]) if row is not None else 0.0)
                cols["sim_named"].append(float(sim_named[row]) if row is not None else 0.0)
                cols["pair"].append(i)
        scored[split] = {k: np.asarray(v) for k, v in cols.items()}
        print(f"{split}: {len(qs)} questions of {len({q.item.gene for q in qs})} genes")
    val = scored["val"]
    mean, sd = (
        np.array([val["sim"].mean(), val["match"].mean()]),
        np.array([val["sim"].std(), val["match"].std()]),
    )
    w = _logistic((np.column_stack([val["sim"], val["match"]]) - mean) / sd, val["y"])
    table = []
    for split, c in scored.items():
        fitted = ((np.column_stack([c["sim"], c["match"]]) - mean) / sd) @ w[:2]
        methods = {
            "biblip phenotype match (LLM log-odds)": c["match"],
            "HPO similarity, observed terms (rank, --no-model)": c["sim"],
            "HPO similarity, the 3 named terms": c["sim_named"],
            "rank --phenotype-match: PHENO_WEIGHT x similarity + match": PHENO_WEIGHT * c["sim"] + c["match"],
            "logistic fit on val: similarity + match": fitted,
        }
        for name, s in methods.items():
            yes, no = s[c["y"] == 1], s[c["y"] == 0]
            table.append({"split": split, "method": name, "n": len(s),
                          "auroc": round(metrics.auroc(c["y"], s), 4),
                          "pair_accuracy": round(float(np.mean((yes > no) + 0.5 * (yes == no))), 4)})  # fmt: skip
    for r in table:
        print(json.dumps(r))
    entry = {"model": str(args.model), "cases": Path(args.cases).name, "counts": counts,
             "logistic_weights_std": {"similarity": round(float(w[0]), 4), "match": round(float(w[1]), 4)},
             "table": table}  # fmt: skip
    if args.report:
        Path(args.report).write_text(json.dumps(entry, indent=2) + "\n")


if __name__ == "__main__":
    main()
