"""`--explain`: what is looked up, and what the model generates, each labelled.

The text has two parts. First the facts, stated from their sources and never generated: the spine's
gene, consequence and protein change, the model's calibrated pathogenicity (shown as `Model: 0.91
(pathogenic-like)`, never an ACMG class name) and the gene's linked phenotypes from the bundle's
knowledge. Then the description the frozen LLM generates from the describe prefix alone
(model/describe.py: consequence, likely class, what the gene encodes, linked phenotypes), with none of
the facts in its prompt. `explain_text` names each part, so a clinical reader knows which words a
generator wrote: the generated class can disagree with the looked-up model score, and says so openly.
"""

from __future__ import annotations

import math
from typing import Any

from biblip_cli.records import AlleleAnnotation, ProteinVariant

MAX_PHENOTYPES = 3
KNOWLEDGE_CHARS = 400  # the gene's summary in `knowledge_words` (per-row prompt tokens cost CPU time)
KNOWLEDGE_PHENOTYPES = 8
MAX_NAME_WORDS = 6  # gene name words kept in a describe answer (answers stay short: CPU time)

_WORDS = {
    "missense_variant": "Missense variant",
    "stop_gained": "Stop-gained variant",
    "stop_lost": "Stop-lost variant",
    "start_lost": "Start-lost variant",
    "synonymous_variant": "Synonymous variant",
    "frameshift_variant": "Frameshift variant",
    "inframe_deletion": "In-frame deletion",
    "inframe_insertion": "In-frame insertion",
    "splice_acceptor_variant": "Splice acceptor variant",
    "splice_donor_variant": "Splice donor variant",
}


def first_sentence(text: str) -> str:
    """The first complete sentence of a generation (greedy decoding of a small LLM drifts and repeats
    after it); the whole text when it has no sentence end."""
    words = text.split()
    for i, word in enumerate(words):
        if word.endswith((".", "!", "?")) and len(word) > 2 and "." not in word[:-1]:
            return " ".join(words[: i + 1])
    return " ".join(words)


def consequence_words(term: str) -> str:
    """'Missense variant' for `missense_variant`: the words of describe answers (training) and facts."""
    return _WORDS.get(term) or (term.replace("_", " ").capitalize() if term else "Variant")


def gene_phenotypes(knowledge: Any) -> list[str]:
    """HPO phenotype names linked to a gene (inheritance modes dropped), in table order."""
    if knowledge is None:
        return []
    terms = getattr(knowledge, "hpo_terms", None) or []
    return [t for t in terms if t and "inheritance" not in t.lower()]


def short_name(knowledge: Any) -> str:
    name = (getattr(knowledge, "name", "") or "").strip() if knowledge is not None else ""
    words = name.split()
    return " ".join(words[:MAX_NAME_WORDS]) + (" ..." if len(words) > MAX_NAME_WORDS else "")


def _call(probability: float, for_llm: bool = False) -> str:
    """The model's call. For a reader: 'Model: 0.91 (pathogenic-like).', never an ACMG/AMP class name
    (a calibrated probability is not a classification). For the LLM (`for_llm`): 'Likely pathogenic
    (model probability 0.91).', the wording of the describe answers it was trained on."""
    if math.isnan(probability):
        return "No model pathogenicity for this consequence."
    word = "pathogenic" if probability >= 0.5 else "benign"
    if for_llm:
        return f"Likely {word} (model probability {probability:.2f})."
    return f"Model: {probability:.2f} ({word}-like)."


def facts_text(
    variant: AlleleAnnotation | ProteinVariant,
    probability: float,
    knowledge: dict[str, Any],
    phenotypes: bool = True,
    for_llm: bool = False,
) -> str:
    """'Missense variant p.Arg264Trp in PANK2 (pantothenate kinase 2). Model: 0.91 (pathogenic-like).
    Gene-linked phenotypes: dystonia, ...'; `for_llm`: the call in the training answers' words (_call)."""
    from biblip_cli.features.protein import protein_consequence

    if isinstance(variant, ProteinVariant):
        gene, change = variant.gene, variant.hgvsp
        term = protein_consequence(variant.ref_aa, variant.alt_aa, variant.position)
    elif variant.effects:
        effect = variant.effects[0]
        gene, change = effect.gene, effect.hgvsp or ""
        term = effect.consequences[0] if effect.consequences else ""
    else:
        a = variant.allele
        return f"Intergenic variant {a.chrom}:{a.pos} {a.ref}>{a.alt}. {_call(probability, for_llm)}"
    know = knowledge.get(gene)
    name = short_name(know)
    head = " ".join(part for part in (consequence_words(term), change, "in", gene) if part)
    text = head + (f" ({name})" if name else "") + ". " + _call(probability, for_llm)
    terms = gene_phenotypes(know)[:MAX_PHENOTYPES] if phenotypes else []
    if terms:
        text += " Gene-linked phenotypes: " + ", ".join(t[:1].lower() + t[1:] for t in terms) + "."
    return text


def knowledge_words(knowledge: Any) -> str:
    """The gene's knowledge in words for the "LLM + gene knowledge" baseline: name, summary (cut) and
    linked phenotypes; never a model probability or a variant's class."""
    if knowledge is None:
        return ""
    symbol = getattr(knowledge, "symbol", "") or ""
    name = (getattr(knowledge, "name", "") or "").strip()
    summary = " ".join((getattr(knowledge, "summary", "") or "").split())
    if len(summary) > KNOWLEDGE_CHARS:
        summary = summary[:KNOWLEDGE_CHARS].rsplit(" ", 1)[0] + " ..."
    text = f"{symbol} ({name})." if name else (f"{symbol}." if symbol else "")
    if summary:
        text += f" {summary}"
    terms = gene_phenotypes(knowledge)[:KNOWLEDGE_PHENOTYPES]
    if terms:
        text += " Linked phenotypes: " + ", ".join(t[:1].lower() + t[1:] for t in terms) + "."
    return text.strip()


def explain_text(facts: str, generated: str) -> str:
    """What `--explain` writes: each part named by where it comes from."""
    return f"Looked up: {facts} Generated from the model's queries: {generated}".strip()
