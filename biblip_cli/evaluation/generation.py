"""The generate task: which facts a generated description states correctly, Bio-BLIP vs the LLM alone."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from biblip_cli.evaluation import baselines
from biblip_cli.evaluation.methods import ModelMethods
from biblip_cli.evaluation.table import TaskTable
from biblip_cli.io.datasets import LabeledVariant
from biblip_cli.model.texts import explain_text

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


_STOP = {"protein", "gene", "family", "member", "domain", "containing", "subunit", "factor", "like",
         "associated", "related", "type", "class", "with", "homolog", "open", "reading", "frame"}  # fmt: skip
# protein classes a description may claim for the gene: checked against the gene's knowledge text
FUNCTION_CLASSES = (
    "kinase", "phosphatase", "channel", "transporter", "receptor", "transcription factor", "collagen",
    "ligase", "protease", "peptidase", "polymerase", "helicase", "dehydrogenase", "synthase", "synthetase",
    "transferase", "hydrolase", "oxidase", "reductase", "isomerase", "cytochrome", "immunoglobulin",
    "keratin", "myosin", "actin", "tubulin", "histone", "ribosomal", "mitochondrial", "zinc finger",
    "hormone", "antigen", "enzyme", "exchanger", "integrin", "cadherin", "laminin", "dynein", "kinesin",
)  # fmt: skip


def function_hit(text: str, knowledge: Any) -> float | None:
    """Does the text name a content word of the gene's name (what it encodes)? None without a name."""
    name = (getattr(knowledge, "name", "") or "") if knowledge is not None else ""
    words = {w for w in re.findall(r"[a-z][a-z0-9-]{3,}", name.lower()) if w not in _STOP}
    if not words:
        return None
    return float(any(re.search(rf"(?<![a-z0-9]){re.escape(w)}(?![a-z0-9])", text.lower()) for w in words))


def knowledge_text(knowledge: Any) -> str:
    if knowledge is None:
        return ""
    parts = [getattr(knowledge, "name", ""), getattr(knowledge, "summary", ""),
             " ".join(getattr(knowledge, "go_terms", []) or []), " ".join(getattr(knowledge, "diseases", []) or [])]  # fmt: skip
    return " ".join(p for p in parts if p).lower()


def named_phenotypes(text: str, ontology: Any) -> list[int]:
    """HPO terms (indices) a text names: word n-grams (1-6 words, >= 5 letters) equal to a term name or
    synonym, longest match first, the root terms left out."""
    names = ontology.name_index()
    words = re.findall(r"[a-z0-9][a-z0-9'/-]*", text.lower())
    found: list[int] = []
    i = 0
    while i < len(words):
        for n in range(min(6, len(words) - i), 0, -1):
            phrase = " ".join(words[i : i + n])
            index = names.get(phrase)
            if index is not None and len(phrase) >= 5 and phrase not in ("phenotypic abnormality", "all"):
                found.append(index)
                i += n
                break
        else:
            i += 1
    return found


def unsupported_claims(text: str, gene: str, knowledge: Any, ontology: Any) -> tuple[int, int]:
    """(claims, unsupported claims) of a text about a gene. A named HPO phenotype is supported when the
    gene is annotated to it or to a more specific term (its closure); a named protein class
    (FUNCTION_CLASSES) when the gene's name, summary, GO terms or diseases say it."""
    claims = unsupported = 0
    if ontology is not None:
        closure = ontology.gene_closure(gene)
        for index in named_phenotypes(text, ontology):
            claims += 1
            unsupported += index not in closure
    known = knowledge_text(knowledge)
    lower = text.lower()
    for word in FUNCTION_CLASSES:
        if re.search(rf"(?<![a-z]){word}", lower):
            claims += 1
            unsupported += word not in known
    return claims, unsupported


def generation_accuracy(
    texts: Sequence[str],
    selected: Sequence[LabeledVariant],
    phenotypes_of: Callable[[str], list[str]],
    knowledge: dict[str, Any] | None = None,
    ontology: Any = None,
) -> dict[str, float]:
    """Field accuracy per field and their mean (GENERATE_FIELDS), plus `function` (not in the mean) and the
    factuality check: `claims` per text, `unsupported` (of all claims) and `error_rate` (texts with one
    or more unsupported claims)."""
    per_field: dict[str, list[float]] = {f: [] for f in (*GENERATE_FIELDS, "function")}
    claims = unsupported = wrong_texts = 0
    for text, lv in zip(texts, selected, strict=True):
        gene = lv.variant.gene
        for name, value in field_hits(text, lv, phenotypes_of(gene)).items():
            if value is not None:
                per_field[name].append(value)
        know = (knowledge or {}).get(gene)
        hit = function_hit(text, know)
        if hit is not None:
            per_field["function"].append(hit)
        c, u = unsupported_claims(text, gene, know, ontology)
        claims, unsupported, wrong_texts = claims + c, unsupported + u, wrong_texts + (u > 0)
    out = {name: (float(np.mean(v)) if v else math.nan) for name, v in per_field.items()}
    present = [out[f] for f in GENERATE_FIELDS if not math.isnan(out[f])]
    out["mean"] = float(np.mean(present)) if present else math.nan
    out["claims"] = claims / max(1, len(texts))
    out["unsupported"] = unsupported / claims if claims else math.nan
    out["error_rate"] = wrong_texts / max(1, len(texts))
    return out


MAIN = "biblip generated (prefix alone)"
ALONE = "LLM alone (variant in words)"
KNOWING = "LLM + gene knowledge in words"


def evaluate_generation(
    selected: Sequence[LabeledVariant],
    model: ModelMethods | None,
    phenotypes_of: Callable[[str], list[str]],
    out_dir: Path,
    knowledge: dict[str, Any] | None = None,
    ontology: Any = None,
) -> TaskTable:
    """Field accuracy of descriptions generated from the prefix alone, beside the same frozen LLM given the
    variant in words, and given the variant and the gene's knowledge in words (free text, and decoded
    with biblip's grammar), and beside `--explain`'s whole text (looked up + generated)."""
    columns = ["method", "n", *GENERATE_FIELDS, "mean", "function", "claims", "unsupported", "error_rate",
               "n_with_phenotypes"]  # fmt: skip
    table = TaskTable("generate", "Variant feature generation: field accuracy", columns)
    if model is None:
        table.notes.append("needs the model (--no-model given): no rows")
        return table
    if not selected:
        table.notes.append("no held-out variant to describe")
        return table
    variants = [lv.variant for lv in selected]
    parts = model.explain_parts(variants)  # one generation: the explain row adds the looked-up facts
    outputs: dict[str, list[str]] = {MAIN: [g for _, g in parts]}
    outputs["biblip --explain (looked up + generated)"] = [explain_text(f, g) for f, g in parts]
    baselines_run = {
        ALONE: model.llm_alone_describe(variants),
        KNOWING: model.llm_alone_describe(variants, knowledge=True),
        f"{ALONE}, biblip's grammar": model.llm_alone_fields(variants),
        f"{KNOWING}, biblip's grammar": model.llm_alone_fields(variants, knowledge=True),
    }
    for name, texts in baselines_run.items():
        if texts is None:
            table.notes.append(f"no LLM: row {name!r} missing")
        else:
            outputs[name] = texts
    n_pheno = sum(1 for lv in selected if phenotypes_of(lv.variant.gene))
    accuracy: dict[str, dict[str, float]] = {}
    for name, texts in outputs.items():
        accuracy[name] = generation_accuracy(texts, selected, phenotypes_of, knowledge, ontology)
        table.rows.append({"method": name, "n": len(texts), **accuracy[name], "n_with_phenotypes": n_pheno})
    if ontology is None:
        table.notes.append(
            "no HPO ontology: phenotype claims not checked (factuality covers protein classes only)"
        )
    with open(out_dir / "generate_texts.tsv", "w", encoding="utf-8") as fh:
        fh.write("gene\thgvsp\tlabel\tmethod\ttext\n")
        for name, texts in outputs.items():
            for lv, text in zip(selected, texts, strict=True):
                clean = " ".join(text.split())
                fh.write(f"{lv.variant.gene}\t{lv.variant.hgvsp}\t{lv.label}\t{name}\t{clean}\n")
    ours = accuracy[MAIN]["mean"]
    for base_name, key in (
        (ALONE, "relative_gain"),
        (f"{ALONE}, biblip's grammar", "relative_gain_same_grammar"),
    ):
        if base_name not in accuracy:
            continue
        base = accuracy[base_name]["mean"]
        gain = (ours - base) / base if base and not math.isnan(base) else math.nan
        table.extra[key] = gain
        relative = "undefined (the LLM alone scored 0)" if math.isnan(gain) else f"{gain:+.1%}"
        table.notes.append(
            f"generated part alone vs {base_name} (mean field accuracy): {ours:.3f} vs {base:.3f}, relative {relative}"
        )
    if KNOWING in accuracy:
        table.extra["label_vs_knowledge"] = accuracy[MAIN]["label"] - accuracy[KNOWING]["label"]
        table.notes.append(
            f"label field: generated {accuracy[MAIN]['label']:.3f} vs {KNOWING} {accuracy[KNOWING]['label']:.3f}"
        )
    n_path = sum(lv.label == "pathogenic" for lv in selected)
    table.notes.append(f"{len(selected)} held-out variants, {n_path} pathogenic: always 'benign' would score "
                       f"{1 - n_path / len(selected):.3f} on the label field")  # fmt: skip
    return table
