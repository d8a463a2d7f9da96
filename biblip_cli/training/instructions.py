"""The words of the examples: instruction templates, answers, describe and enhancer texts.

Shared by `biblip train` and the engine's prompts: the same instruction and answer words must reach
the LLM in training and at inference.
"""

from __future__ import annotations

from typing import Any

from biblip_cli.io.datasets import EnhancerPair
from biblip_cli.model.texts import consequence_words, gene_phenotypes, short_name
from biblip_cli.records import ProteinVariant

LABEL_WORDS = {
    "pathogenic": "Likely pathogenic.",
    "benign": "Likely benign.",
    "uncertain": "Uncertain significance.",
}
MAX_PHENOTYPES = 3  # HPO names per describe answer / phenotype question

# Instruction templates: taken from model/prompts.py when it defines them, else these defaults.
DEFAULT_INSTRUCTIONS = {  # the LLM sees: instruction, soft prefix, "\nAnswer:", answer
    "pathogenicity": "Is the following human genetic variant pathogenic or benign?",
    "describe": "Describe the following human genetic variant.",
    "phenotype": "Could the following variant cause {phenotypes}? Answer yes or no.",
    "regulates": "Does the following regulatory element regulate {gene}? Answer yes or no.",
}
ANSWERS = {
    "pathogenicity": (" benign", " pathogenic"),
    "phenotype": (" no", " yes"),
    "regulates": (" no", " yes"),
}


def instruction_templates() -> dict[str, str]:
    """Instruction templates by kind: model/prompts.py's `TRAINING_INSTRUCTIONS` when it defines them."""
    templates = dict(DEFAULT_INSTRUCTIONS)
    try:  # the prompts module is the single source of templates once it defines them
        from biblip_cli.model import prompts

        templates.update(getattr(prompts, "TRAINING_INSTRUCTIONS", {}))
    except ImportError:
        pass
    return templates


def instruction(kind: str, templates: dict[str, str] | None = None, **values: str) -> str:
    """The instruction text of a kind, filled with `values`."""
    return (templates or instruction_templates())[kind].format(**values)


def describe_text(pv: ProteinVariant, label: str, knowledge: Any, phenotypes: list[str] | None = None) -> str:
    """'Missense variant p.Arg264Trp in PANK2 (pantothenate kinase 2). Likely pathogenic. Gene-linked
    phenotypes: dystonia, ...' (short: every answer token costs CPU time in stage 2)."""
    from biblip_cli.features.protein import protein_consequence

    consequence = protein_consequence(pv.ref_aa, pv.alt_aa, pv.position)
    head = consequence_words(consequence)
    name = short_name(knowledge)
    text = f"{head} {pv.hgvsp} in {pv.gene}" + (f" ({name})" if name else "") + f". {LABEL_WORDS[label]}"
    terms = (phenotypes if phenotypes is not None else gene_phenotypes(knowledge))[:MAX_PHENOTYPES]
    if terms:
        text += " Gene-linked phenotypes: " + ", ".join(t[:1].lower() + t[1:] for t in terms) + "."
    return text


def enhancer_text(pair: EnhancerPair) -> str:
    """VTC text of an element-gene pair (the label is the target of stage 1's matching loss)."""
    verb = "regulates" if pair.regulated else "does not regulate"
    where = ""
    if pair.tss0 is not None:
        kb = abs((pair.start0 + pair.end0) // 2 - pair.tss0) / 1000
        where = f", {kb:.0f} kb from its TSS"
    return f"Regulatory element at {pair.chrom}:{pair.start0 + 1}-{pair.end0}{where}; {verb} {pair.gene}."
