"""Real patients' phenotypes as examples of the phenotype task (issue 13, item 3).

From published Mendelian cases (phenopacket-store rows, `io/case_records`), each case whose causal
change is a missense variant gives two questions in the stage-2 wording ("Could the following variant
cause <terms>?"):
- the causal variant with the patient's own observed terms -> " yes";
- the same terms asked of the causal variant of another case's gene -> " no". That gene is a *hard*
  negative: among the genes of the other cases in the same split, the one whose patients share the most
  observed terms with this patient (ties broken by a hash of the case id), so the model must tell apart
  genes with similar phenotypes, not only a neurological gene from a skin one.
Obsolete ids take their replacement, unknown ones are skipped (`resolve_terms_lenient`); the terms named
are the patient's most specific ones (highest information content, at most
`MAX_PHENOTYPES`), by their HPO names. Cases are split by gene with the split everything else uses, so
a gene's cases, and the negatives asked of its variants, stay in its split.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from biblip_cli.io.case_records import CaseRecord, protein_variant
from biblip_cli.model.prompts import phenotype_words
from biblip_cli.training.example_set import Example, VariantItem
from biblip_cli.training.instructions import ANSWERS, MAX_PHENOTYPES, instruction


@dataclass(frozen=True)
class PhenopacketQuestion:
    """One case's question: its causal variant, the hard negative's variant (None when its split has no
    other gene) and the patient's terms that the question names (HPO term indices)."""

    case: CaseRecord
    item: VariantItem
    negative: VariantItem | None
    named: list[int]


def phenopacket_questions(
    cases: Sequence[CaseRecord], hpo: Any, split_of: Callable[[str], str]
) -> tuple[list[PhenopacketQuestion], dict[str, int]]:
    """The usable cases as questions (module docstring), with counts of what was used or skipped;
    `scripts/phenotype_match_eval.py` scores the same questions that training asks."""
    counts: Counter[str] = Counter(cases=len(cases))
    usable: list[tuple[CaseRecord, VariantItem, list[int]]] = []
    items: dict[str, VariantItem] = {}
    for case in cases:
        pv = next(
            (p for p in map(protein_variant, case.variants) if p is not None and p.gene == case.gene), None
        )
        terms = hpo.term_indices(hpo.resolve_terms_lenient(case.observed).terms) if pv is not None else []
        if pv is None or not terms:
            counts["no_missense_or_terms"] += 1
            continue
        key = f"{pv.gene}:{pv.hgvsp}"
        item = items.setdefault(key, VariantItem(key, pv.gene, split_of(pv.gene), protein=pv, label=1))
        usable.append((case, item, terms))
    genes_with_term: dict[int, Counter[str]] = defaultdict(Counter)
    first_item: dict[str, VariantItem] = {}
    for _, item, terms in usable:
        first_item.setdefault(item.gene, item)
        for t in terms:
            genes_with_term[t][item.gene] += 1
    questions = []
    for case, item, terms in usable:
        named = sorted(terms, key=lambda t: (-hpo.information_content(t), t))[:MAX_PHENOTYPES]
        other = _hard_negative(case.case_id, item, terms, genes_with_term, first_item)
        if other is None:
            counts["no_negative"] += 1
        negative = first_item[other] if other is not None else None
        questions.append(PhenopacketQuestion(case, item, negative, named))
    counts["items"] = len(items)
    return questions, dict(counts)


def phenopacket_examples(
    cases: Sequence[CaseRecord],
    hpo: Any,
    split_of: Callable[[str], str],
    templates: dict[str, str] | None = None,
) -> tuple[list[VariantItem], list[Example], dict[str, int]]:
    """Items (the causal variants), examples (yes/no pairs) and counts of what was used or skipped."""
    questions, counts = phenopacket_questions(cases, hpo, split_of)
    examples: list[Example] = []
    for q in questions:
        names = [hpo.term(t).name for t in q.named]
        text = instruction("phenotype", templates, phenotypes=phenotype_words(names))
        examples.append(Example("phenotype", q.item, text, ANSWERS["phenotype"][1], 1))
        if q.negative is not None:
            examples.append(Example("phenotype", q.negative, text, ANSWERS["phenotype"][0], 0))
    counts["examples"] = len(examples)
    items = list({q.item.key: q.item for q in questions}.values())
    return items, examples, counts


def _hard_negative(
    case_id: str,
    item: VariantItem,
    terms: list[int],
    genes_with_term: dict[int, Counter[str]],
    first_item: dict[str, VariantItem],
) -> str | None:
    """The other gene of the item's split whose cases share the most of `terms` (ties: a hash)."""
    shared: Counter[str] = Counter()
    for t in terms:
        shared.update(genes_with_term[t])
    candidates = [g for g in shared if g != item.gene and first_item[g].split == item.split]
    if not candidates:
        return None
    return min(candidates, key=lambda g: (-shared[g], hashlib.sha1(f"{case_id}|{g}".encode()).hexdigest()))
