"""The generate task: which facts a generated description states correctly, Bio-BLIP vs the LLM alone."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from biblip_cli.evaluation import baselines
from biblip_cli.evaluation.methods import ModelMethods
from biblip_cli.evaluation.table import TaskTable
from biblip_cli.io.datasets import LabeledVariant

GENERATE_FIELDS = ("gene", "consequence", "protein_change", "label", "phenotype")
_CONSEQUENCE_PATTERNS = {
    "missense_variant": r"missense|amino[- ]acid (substitution|change)|substitut",
    "stop_gained": r"stop[- ]gain|nonsense|premature (stop|termination)|truncat",
    "synonymous_variant": r"synonymous|silent",
    "stop_lost": r"stop[- ]lost|stop[- ]loss|read[- ]?through",
    "start_lost": r"start[- ]lost|start[- ]loss|initiat",
    "frameshift_variant": r"frame[- ]?shift",
}
_AA3 = {
    "A": "Ala", "R": "Arg", "N": "Asn", "D": "Asp", "C": "Cys", "Q": "Gln", "E": "Glu", "G": "Gly", "H": "His", "I": "Ile",
    "L": "Leu", "K": "Lys", "M": "Met", "F": "Phe", "P": "Pro", "S": "Ser", "T": "Thr", "W": "Trp", "Y": "Tyr", "V": "Val",
    "*": "Ter",
}  # fmt: skip


def stated_label(text: str) -> str | None:
    """'pathogenic' or 'benign' by the first of the two words the text uses (None if neither)."""
    match = re.search(r"\b(benign|pathogenic|disease[- ]causing|harmless)\b", text, re.IGNORECASE)
    if match is None:
        return None
    word = match.group(1).lower()
    return "benign" if word in ("benign", "harmless") else "pathogenic"


def field_hits(text: str, lv: LabeledVariant, phenotypes: Sequence[str]) -> dict[str, float | None]:
    """Which facts a generated description states correctly (None = not scorable for this variant)."""
    pv = lv.variant
    lower = text.lower()
    gene = bool(re.search(rf"(?<![A-Za-z0-9]){re.escape(pv.gene)}(?![A-Za-z0-9])", text))
    term = baselines.protein_consequence(pv)
    pattern = _CONSEQUENCE_PATTERNS.get(term, re.escape(term.replace("_variant", "").replace("_", " ")))
    consequence = bool(re.search(pattern, lower))
    ref3, alt3 = _AA3.get(pv.ref_aa, pv.ref_aa), _AA3.get(pv.alt_aa, pv.alt_aa)
    forms = {
        pv.hgvsp.lower(),
        f"{ref3}{pv.position}{alt3}".lower(),
        f"{pv.ref_aa}{pv.position}{pv.alt_aa}".lower(),
    }
    protein_change = any(re.search(rf"(?<![a-z0-9]){re.escape(f)}(?![a-z0-9])", lower) for f in forms if f)
    label = stated_label(text) == lv.label
    phenotype: float | None = None
    if phenotypes:
        phenotype = float(any(p.lower() in lower for p in phenotypes if len(p) > 3))
    return {
        "gene": float(gene),
        "consequence": float(consequence),
        "protein_change": float(protein_change),
        "label": float(label),
        "phenotype": phenotype,
    }


def generation_accuracy(
    texts: Sequence[str], selected: Sequence[LabeledVariant], phenotypes_of: Callable[[str], list[str]]
) -> dict[str, float]:
    per_field: dict[str, list[float]] = {f: [] for f in GENERATE_FIELDS}
    for text, lv in zip(texts, selected, strict=True):
        for name, value in field_hits(text, lv, phenotypes_of(lv.variant.gene)).items():
            if value is not None:
                per_field[name].append(value)
    out = {name: (float(np.mean(v)) if v else math.nan) for name, v in per_field.items()}
    present = [v for v in out.values() if not math.isnan(v)]
    out["mean"] = float(np.mean(present)) if present else math.nan
    return out


def evaluate_generation(
    selected: Sequence[LabeledVariant],
    model: ModelMethods | None,
    phenotypes_of: Callable[[str], list[str]],
    out_dir: Path,
) -> TaskTable:
    columns = ["method", "n", *GENERATE_FIELDS, "mean", "n_with_phenotypes"]
    table = TaskTable("generate", "Variant feature generation: field accuracy", columns)
    if model is None:
        table.notes.append("needs the model (--no-model given): no rows")
        return table
    if not selected:
        table.notes.append("no held-out variant to describe")
        return table
    variants = [lv.variant for lv in selected]
    full, generated = model.describe(variants)
    outputs: dict[str, list[str]] = {"biblip": full}
    if generated is not None:
        outputs["biblip generated part alone"] = generated
    alone = model.llm_alone_describe(variants)
    if alone is not None:
        outputs["LLM alone (variant in words)"] = alone
    else:
        table.notes.append("the engine has no llm_alone_describe: LLM-alone row missing")
    n_pheno = sum(1 for lv in selected if phenotypes_of(lv.variant.gene))
    accuracy: dict[str, dict[str, float]] = {}
    for name, texts in outputs.items():
        accuracy[name] = generation_accuracy(texts, selected, phenotypes_of)
        table.rows.append({"method": name, "n": len(texts), **accuracy[name], "n_with_phenotypes": n_pheno})
    with open(out_dir / "generate_texts.tsv", "w", encoding="utf-8") as fh:
        fh.write("gene\thgvsp\tlabel\tmethod\ttext\n")
        for name, texts in outputs.items():
            for lv, text in zip(selected, texts, strict=True):
                clean = " ".join(text.split())
                fh.write(f"{lv.variant.gene}\t{lv.variant.hgvsp}\t{lv.label}\t{name}\t{clean}\n")
    if "LLM alone (variant in words)" in accuracy:
        base = accuracy["LLM alone (variant in words)"]["mean"]
        ours = accuracy["biblip"]["mean"]
        gain = (ours - base) / base if base and not math.isnan(base) else math.nan
        table.extra["relative_gain"] = gain
        table.extra["absolute_gain"] = ours - base
        relative = "undefined (the LLM alone scored 0)" if math.isnan(gain) else f"{gain:+.1%}"
        table.notes.append(
            f"gain of biblip over the LLM alone (mean field accuracy): relative {relative}, absolute {ours - base:+.3f}"
        )
    return table
