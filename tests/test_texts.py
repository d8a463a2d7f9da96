"""`--explain` facts (model/texts.py) and the pathogenicity domain of the shipped checkpoint."""

from __future__ import annotations

import math

import numpy as np

from biblip_cli.bundle.knowledge import GeneKnowledge
from biblip_cli.engine.engine import Engine
from biblip_cli.model.texts import facts_text, first_sentence
from biblip_cli.records import Allele, AlleleAnnotation, GeneEffect, ProteinVariant

KNOWLEDGE = {
    "PANK2": GeneKnowledge(
        "PANK2", name="pantothenate kinase 2",
        hpo_terms=["Autosomal recessive inheritance", "Dystonia", "Dysarthria", "Retinopathy", "Spasticity"],
    )
}  # fmt: skip


def _allele(consequence: str, hgvsp: str = "", ref_aa: str = "", alt_aa: str = "") -> AlleleAnnotation:
    effect = GeneEffect("PANK2", "PANK2.1", "protein_coding", "+", [consequence], hgvsp=hgvsp,
                        ref_aa=ref_aa, alt_aa=alt_aa)  # fmt: skip
    return AlleleAnnotation(Allele("chr20", 3_900_000, "C", "T"), [effect])


def test_facts_state_gene_change_call_and_phenotypes():
    text = facts_text(_allele("missense_variant", "p.Arg264Trp", "R", "W"), 0.91, KNOWLEDGE)
    assert text == (
        "Missense variant p.Arg264Trp in PANK2 (pantothenate kinase 2). Model: 0.91 (pathogenic-like). "
        "Gene-linked phenotypes: dystonia, dysarthria, retinopathy."
    )  # the inheritance term is not a phenotype
    protein = facts_text(ProteinVariant("PANK2", "p.Gly2Ser", "G", 2, "S"), 0.2, KNOWLEDGE)
    assert protein.startswith("Missense variant p.Gly2Ser in PANK2") and "Model: 0.20 (benign-like)" in protein
    assert "likely" not in (text + protein).lower()  # a model probability never gets an ACMG class name
    # the LLM is told the call in the words of its training answers (unchanged)
    told = facts_text(_allele("missense_variant", "p.Arg264Trp", "R", "W"), 0.91, KNOWLEDGE, False, for_llm=True)
    assert told == (
        "Missense variant p.Arg264Trp in PANK2 (pantothenate kinase 2). Likely pathogenic (model probability 0.91)."
    )


def test_facts_without_a_model_call_or_a_gene():
    text = facts_text(_allele("intron_variant"), math.nan, {})
    assert text == "Intron variant in PANK2. No model pathogenicity for this consequence."
    intergenic = facts_text(AlleleAnnotation(Allele("chr20", 5, "A", "G")), math.nan, {})
    assert intergenic.startswith("Intergenic variant chr20:5 A>G.")


def test_first_sentence_cuts_drift_but_not_abbreviations():
    assert first_sentence("It encodes a kinase. The gene is the gene is") == "It encodes a kinase."
    assert first_sentence("It (e.g. in U.S. cohorts) binds DNA. More") == "It (e.g. in U.S. cohorts) binds DNA."
    assert first_sentence("  no end  ") == "no end"


def test_protein_trained_checkpoint_scores_missense_only():
    engine = Engine.__new__(Engine)  # the domain rule reads metadata only
    engine.metadata = {"inference": {"pathogenicity_domain": "protein_change"}}
    missense = _allele("missense_variant", "p.Arg264Trp", "R", "W")
    intron, synonymous = _allele("intron_variant"), _allele("synonymous_variant", "p.Arg264=")
    assert [engine.in_domain(v) for v in (missense, intron, synonymous)] == [True, False, False]
    assert engine.in_domain(ProteinVariant("PANK2", "p.Gly2Ser", "G", 2, "S"))
    out = engine._in_domain_only([intron, missense, synonymous], lambda part: np.full(len(part), 0.7))
    assert np.isnan(out[0]) and out[1] == 0.7 and np.isnan(out[2])
    engine.metadata = {}  # a checkpoint without the entry answers for every allele
    assert engine.in_domain(intron)
