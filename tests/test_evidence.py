"""Variant-level evidence: paralog table (bundle/paralogs.py), evidence columns (features/evidence.py),
the builder filling them, and warm starts across a wider protein row (model/biblip.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from biblip_cli.bundle.paralogs import Paralog, find_paralogs, read_paralogs, write_paralogs
from biblip_cli.features.evidence import COL_EVIDENCE, variant_evidence
from biblip_cli.features.inputs import EVIDENCE_DIM, PROTEIN_FEATURE_DIM
from biblip_cli.model.biblip import BioBlip, BioBlipConfig, warm_start

# two "paralogs" (the second differs at a few residues) and an unrelated protein
FAMILY_A = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDNLSGAEKAVQVKVKALPDAQFEVVHSLAKWKRQTLGQHDFSAGEGLYTHMKALRPDEDRLSPLHSVYVDQWDWERVMGDGERQFSTLKSTVEAIWAGIKATEAAVSEEFGLAPFLPDQIHFVHSQELLSRYPDLDAKGRERAIAKDLGAVFLVGIGGKLSDGHRHDVRAPDYDDWSTPSELGHAGLNGDILVWNPVLEDAFELSSMGIRVDADTLKHALDKLLLKVRDSPEE"
FAMILY_B = FAMILY_A[:40] + "W" + FAMILY_A[41:100] + "GGG" + FAMILY_A[103:]
OTHER = "MSDNNQWLLHHCPSVELLRQKFNEIRPGDTVLLSGCSGSGKSTTLRLIAGLHRQSAGRVLLDGKPIEEYSRRELAALVGYVPQEPFLFNG" * 2


def _proteins() -> dict[str, str]:
    return {"GENEA": FAMILY_A, "GENEB": FAMILY_B, "OTHER": OTHER}


def test_paralogs_found_and_round_trip(tmp_path):
    table = find_paralogs(_proteins())
    assert [p.gene for p in table["GENEA"]] == ["GENEB"]
    assert table["OTHER"] == []
    par = table["GENEA"][0]
    assert len(par.aligned) == len(FAMILY_A)
    assert par.aligned[40] == "W" and par.aligned[39] == FAMILY_A[39]
    assert 0.95 < par.identity < 1.0
    path = tmp_path / "paralogs.tsv.gz"
    assert write_paralogs(table, path) == 2
    assert read_paralogs(path) == {g: v for g, v in table.items() if v}


def test_paralogs_only_for_requested_genes_but_searched_among_all():
    table = find_paralogs(_proteins(), genes=["GENEB"])
    assert list(table) == ["GENEB"] and table["GENEB"][0].gene == "GENEA"


def test_evidence_conservation_and_tolerance():
    paralogs = [Paralog("GENEB", 0.98, 500.0, FAMILY_B)]
    conserved = variant_evidence(FAMILY_A, 10, FAMILY_A[9], "P", paralogs, n_diseases=3)
    tolerated = variant_evidence(FAMILY_A, 41, FAMILY_A[40], "W", paralogs, n_diseases=3)
    assert conserved.shape == (EVIDENCE_DIM,)
    assert conserved[9] == 1.0 and conserved[10] == 0.0  # paralog keeps the ref residue, never has the alt
    assert tolerated[9] == 0.0 and tolerated[10] == 1.0  # paralog has the alt residue here
    assert conserved[15] == pytest.approx(np.log1p(3) / 3) and conserved[16] == 1.0


def test_evidence_without_sequence_keeps_only_the_gene_prior():
    row = variant_evidence(None, 10, "A", "P", [], n_diseases=0)
    assert not row.any()
    wrong_ref = variant_evidence(FAMILY_A, 10, "W", "P", [], n_diseases=2)
    assert not wrong_ref[:15].any() and wrong_ref[16] == 1.0


def test_builder_fills_evidence_columns(resources):
    from biblip_cli.bundle import Bundle
    from biblip_cli.features.builder import FeatureBuilder
    from biblip_cli.records import ProteinVariant

    bundle = Bundle.open(resources / "demo_bundle")
    seq = bundle.proteins["PRNP"]
    builder = FeatureBuilder(bundle, text_embedder=None)
    x = builder.build_protein([ProteinVariant("PRNP", "p.Pro102Leu", seq[101], 102, "L")])
    evidence = x.protein_features[0, COL_EVIDENCE:]
    assert x.protein_features.shape[1] == PROTEIN_FEATURE_DIM
    assert evidence[:7].abs().sum() > 0  # window composition
    assert evidence[15] > 0  # PRNP has HPO diseases


def test_warm_start_pads_new_input_columns(tmp_path):
    old = BioBlip(BioBlipConfig.preset("tiny")).eval()
    old.save_pretrained(tmp_path / "old", dtype=torch.float32)
    # pretend the old checkpoint had a 64-column protein row: cut the saved weight
    from safetensors.torch import load_file, save_file

    state = load_file(str(tmp_path / "old" / "model.safetensors"))
    key = "encoders.protein_features.0.weight"
    state[key] = state[key][:, :64].contiguous()
    save_file(state, str(tmp_path / "old" / "model.safetensors"))
    new = BioBlip(BioBlipConfig.preset("tiny"))
    report = warm_start(new, tmp_path / "old")
    assert list(report) == [key]
    w = new.state_dict()[key]
    assert torch.equal(w[:, :64], state[key]) and not w[:, 64:].any()
