"""Instruction templates shared by training and inference.

Layout (see llm.py): `[instruction] [soft prefix] [tail] [answer]`. Instructions are fixed per task so
their KV cache is computed once; answers are single tokens for SmolLM2 (" pathogenic", " benign",
" yes", " no" each tokenise to one id), so scoring needs one forward of Nq + 3 tokens per allele.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from biblip_cli.model.llm_rows import DEFAULT_TAIL
from biblip_cli.records import AlleleAnnotation, ProteinVariant

TAIL = DEFAULT_TAIL  # what lm_loss/score use by default, so training and inference agree
PATHOGENIC, BENIGN = " pathogenic", " benign"
YES, NO = " yes", " no"

_CONTEXT = (
    "You are a clinical geneticist. The next tokens encode one human genetic variant "
    "(its DNA, the genes around it, the protein change and what is known about the gene)."
)

# The single source of instruction texts: training/examples.py (training) reads this dict, and the
# prompt builders below (inference) fill the same templates.
TRAINING_INSTRUCTIONS = {
    "pathogenicity": f"{_CONTEXT} Is this variant pathogenic or benign?",
    "describe": f"{_CONTEXT} Describe the variant in one sentence: the gene, the consequence, the protein "
    "change, what the gene does and whether the variant is likely pathogenic.",
    "phenotype": f"{_CONTEXT} The patient has: {{phenotypes}}. Could this variant cause these phenotypes?",
    "regulates": f"{_CONTEXT} Does the DNA element carrying this variant regulate the gene {{gene}}?",
}


@dataclass(frozen=True)
class Prompt:
    instruction: str
    answers: tuple[str, ...] = ()  # positive answer first: log-odds = score[0] - score[1]
    tail: str = TAIL


def pathogenicity_prompt() -> Prompt:
    return Prompt(TRAINING_INSTRUCTIONS["pathogenicity"], (PATHOGENIC, BENIGN))


def describe_prompt() -> Prompt:
    return Prompt(TRAINING_INSTRUCTIONS["describe"])


def phenotype_words(phenotypes: Sequence[str]) -> str:
    """Phenotype names as every phenotype question words them, in training and at inference."""
    return ", ".join(phenotypes).lower()


def phenotype_prompt(phenotypes: list[str]) -> Prompt:
    """The phenotype question about these names (worded as in training)."""
    listed = phenotype_words(phenotypes) if phenotypes else "no recorded phenotypes"
    return Prompt(TRAINING_INSTRUCTIONS["phenotype"].format(phenotypes=listed), (YES, NO))


def regulates_prompt(gene: str) -> Prompt:
    return Prompt(TRAINING_INSTRUCTIONS["regulates"].format(gene=gene), (YES, NO))


def describe_variant_in_words(variant: AlleleAnnotation | ProteinVariant) -> str:
    """The variant as plain text for the "LLM alone" baseline: gene, consequence, protein change; no label."""
    if isinstance(variant, ProteinVariant):
        return f"a protein change {variant.hgvsp} in the gene {variant.gene}"
    allele = variant.allele
    where = f"{allele.chrom}:{allele.pos} {allele.ref}>{allele.alt}"
    if not variant.effects:
        return f"an intergenic variant {where}"
    effect = variant.effects[0]
    terms = " and ".join(term.replace("_", " ") for term in effect.consequences) or "variant"
    text = f"a {terms} {where} in the gene {effect.gene}"
    if effect.hgvsp:
        text += f", protein change {effect.hgvsp}"
    return text


def plain_text_prompt(
    prompt: Prompt, variant: AlleleAnnotation | ProteinVariant, knowledge: str = ""
) -> Prompt:
    """The same question with the variant described in words instead of a soft prefix (no prefix);
    `knowledge`: the gene's knowledge text in words as well (what retrieval without the model gives)."""
    context = f"You are a clinical geneticist. Consider {describe_variant_in_words(variant)}."
    if knowledge:
        context += f" What is known about the gene: {knowledge}"
    question = prompt.instruction[len(_CONTEXT) :].strip() if prompt.instruction.startswith(_CONTEXT) else ""
    return Prompt(f"{context} {question}".strip(), prompt.answers, prompt.tail)
