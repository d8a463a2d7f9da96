"""The values of one gene card in the `--html` report: the patient terms it matches (with the gene term
and information content), its variants (zygosity, inheritance check, frequency, model probability in
words) and links by id. Plain text and `links.Link`s; the template escapes them.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from biblip_cli.ranking import links

if TYPE_CHECKING:
    from biblip_cli.ranking.candidates import Candidate

ZYGOSITY_WORDS = {
    "het": "heterozygous",
    "hom": "homozygous",
    "hemi": "hemizygous",
    "unknown": "genotype unknown",
    "compound_het": "compound heterozygous",
    "possible_compound_het": "possible compound het (phase unknown)",
}
CARD_VARIANTS = 6  # variants listed per card
FREQUENCY_FIELDS = ("allele_frequency", "af", "max_af")  # a Candidate attribute, where filters add one


def gene_links(info: Any) -> list[links.Link]:
    found = [links.Link(f"OMIM {n}", links.omim(n)) for n in getattr(info, "omim_ids", []) or []]
    if getattr(info, "entrez_id", ""):
        found.append(links.Link("HPO", links.hpo_gene(info.entrez_id)))
    return found


def term_rows(ontology: Any, terms: list[Any], gene: str) -> list[dict[str, Any]]:
    """Each patient term -> the gene term it meets, best (highest IC) first; [] without an ontology."""
    if ontology is None or not hasattr(ontology, "term_matches"):
        return []
    rows = []
    for m in sorted(ontology.term_matches(terms, gene), key=lambda m: -m.ic):
        rows.append(
            {
                "patient": links.Link(f"{m.patient.id} {m.patient.name}", links.hpo_term(m.patient.id)),
                "gene_term": links.Link(f"{m.gene_term.id} {m.gene_term.name}", links.hpo_term(m.gene_term.id))
                if m.gene_term else None,
                "common": links.Link(f"{m.common.id} {m.common.name}", links.hpo_term(m.common.id))
                if m.common and not m.annotated and m.common != m.gene_term else None,
                "ic": f"{m.ic:.2f}", "patient_ic": f"{m.patient_ic:.2f}", "annotated": m.annotated,
                "share": 0.0 if m.patient_ic <= 0 else min(1.0, m.ic / m.patient_ic),
            }
        )  # fmt: skip
    return rows


def variant_values(c: Candidate, model: bool, by_key: dict[str, Candidate]) -> dict[str, Any]:
    eff = c.effect
    zygosity = ZYGOSITY_WORDS.get(c.zygosity, c.zygosity)
    if c.partners:
        partner = by_key.get(c.partners[0])
        zygosity += " with " + ((partner.effect.hgvsp if partner and partner.effect else "") or c.partners[0])
    freq = frequency(c)
    return {
        "rank": c.rank,
        "locus": f"{c.allele.chrom}:{c.allele.pos:,}",
        "change": f"{c.allele.ref}>{c.allele.alt}",
        "ids": links.variant_ids(c.vcf_id),
        "consequence": (eff.consequences[0] if eff and eff.consequences else "intergenic_variant").replace(
            "_", " "
        ),
        "hgvs": " ".join(x for x in (eff.hgvsc, eff.hgvsp) if x) if eff else "",
        "zygosity": zygosity,
        "inheritance": _inheritance_check(c),
        "fits": c.moi >= 1.0,
        "frequency": "" if freq is None else f"{freq:.2g}",
        "model": model_words(c, model),
        "score": score_text(c.score),
    }


def score_text(score: float) -> str:
    return f"{score:.3f}" if score >= 0.001 else f"{score:.2g}"


def model_words(c: Candidate, model: bool) -> str:
    """`model: 0.83 (pathogenic-like)`: a probability, never an ACMG class name."""
    if not model:
        return f"deleteriousness {c.deleteriousness:.2f}"
    if math.isnan(c.pathogenicity):
        return f"consequence prior {c.deleteriousness:.2f} (outside the model's domain)"
    like = "pathogenic-like" if c.pathogenicity >= 0.5 else "benign-like"
    return f"model: {c.pathogenicity:.2f} ({like}{', first pass' if c.passes == 1 else ''})"


def _inheritance_check(c: Candidate) -> str:
    modes = "/".join(sorted(c.modes))
    if c.family == "does_not_segregate":
        fit = f"does not segregate in the family (x{c.moi:g})"
    elif c.moi >= 1.0:
        fit = "genotype fits" if modes else "no mode of inheritance annotated"
    else:
        fit = f"genotype does not fit (x{c.moi:g})"
    family = {"de_novo": "; de novo", "segregates": "; segregates"}.get(c.family, "")
    return (f"{modes}: " if modes else "") + fit + family


def frequency(c: Candidate) -> float | None:
    for name in FREQUENCY_FIELDS:
        value = getattr(c, name, None)
        if isinstance(value, (int, float)) and not math.isnan(value):
            return float(value)
    return None
