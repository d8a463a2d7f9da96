"""Item counts per modality and task of `biblip train`'s example set (the model card's table).

Every item is featurized exactly as training does (`training/featurize.Featurizer`), and a modality counts
as present where its mask is set: DNA (the sequence is known), gene (at least one gene token), protein (a
coding change) and its residue window, text (at least one knowledge snippet). Examples count per kind
with the modalities of their item. Counts are of the examples `biblip train` builds from the data folder
(every train gene is used by the default recipe).

Usage (~2 min on the 2-core CPU once the bundle's gene texts are embedded):
    python scripts/training_counts.py --bundle train_bundle --out docs/evaluation_runs/.../training_counts.json
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from biblip_cli.bundle import Bundle
from biblip_cli.features.builder import FeatureBuilder
from biblip_cli.features.gene_texts import bundle_text_embedder
from biblip_cli.model.weights import default_text_encoder_dir
from biblip_cli.training.featurize import Featurizer
from biblip_cli.training.options import load_examples

MODALITIES = ("dna", "gene", "protein", "protein_window", "text")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", required=True)
    ap.add_argument("--data", default=None, help="data folder (default: ../shared/data)")
    ap.add_argument("--out", help="write the counts (JSON) here")
    args = ap.parse_args()
    bundle = Bundle.open(args.bundle)
    examples = load_examples(bundle, Path(args.data) if args.data else None)
    featurize = Featurizer(
        bundle, FeatureBuilder(bundle, bundle_text_embedder(bundle, default_text_encoder_dir()))
    )
    present: dict[str, frozenset[str]] = {}
    items = examples.items
    for lo in range(0, len(items), 512):
        part = items[lo : lo + 512]
        x = featurize(part)
        masks = {
            "dna": x.dna_mask,
            "gene": x.gene_mask.any(-1),
            "protein": x.protein_mask,
            "protein_window": x.protein_mask & x.protein_window_mask,
            "text": x.text_mask.any(-1),
        }
        for i, it in enumerate(part):
            present[it.key] = frozenset(m for m in MODALITIES if bool(masks[m][i]))
    table: dict[str, dict[str, dict[str, int]]] = {}
    for split in ("train", "val", "test"):
        rows: dict[str, Counter[str]] = {}
        split_items = [it for it in items if it.split == split]
        rows["items"] = Counter({"all": len(split_items)})
        rows["items"].update(m for it in split_items for m in present[it.key])
        for ex in examples.examples:
            if ex.split == split:
                row = rows.setdefault(ex.kind, Counter())
                row["all"] += 1
                row.update(present[ex.item.key])
        table[split] = {k: {c: int(v[c]) for c in ("all", *MODALITIES)} for k, v in rows.items()}
        table[split]["genes"] = {"all": len({it.gene for it in split_items})}
    print(json.dumps(table, indent=1))
    if args.out:
        Path(args.out).write_text(json.dumps(table, indent=2) + "\n")


if __name__ == "__main__":
    main()
