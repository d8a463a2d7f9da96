"""Bio-BLIP model: shapes, masks, missing modalities, checkpoint round trip, config checks."""

from __future__ import annotations

import json

import pytest
import torch

from biblip_cli.errors import BiblipError
from biblip_cli.features.inputs import (
    ACTIVITY_DIM,
    DNA_PAD,
    GENE_FEATURE_DIM,
    MAX_GENES,
    MAX_SNIPPETS,
    PROTEIN_FEATURE_DIM,
    TEXT_DIM,
    VariantInputs,
)
from biblip_cli.model.biblip import BioBlip, read_metadata, size_bytes
from biblip_cli.model.config import BioBlipConfig


def random_inputs(B: int = 3, L: int = 64, W: int = 31, seed: int = 0) -> VariantInputs:
    """A batch with every modality present (masks all True) and random content."""
    g = torch.Generator().manual_seed(seed)
    dna_ref = torch.randint(0, 5, (B, L), generator=g)
    dna_alt = dna_ref.clone()
    dna_alt[:, L // 2] = (dna_alt[:, L // 2] + 1) % 4
    prot_ref = torch.randint(1, 23, (B, W), generator=g)
    prot_alt = prot_ref.clone()
    prot_alt[:, W // 2] = prot_alt[:, W // 2] % 22 + 1
    return VariantInputs(
        dna_ref=dna_ref,
        dna_alt=dna_alt,
        dna_mask=torch.ones(B, dtype=torch.bool),
        gene_features=torch.randn(B, MAX_GENES, GENE_FEATURE_DIM, generator=g),
        gene_text=torch.randn(B, MAX_GENES, TEXT_DIM, generator=g),
        gene_mask=torch.ones(B, MAX_GENES, dtype=torch.bool),
        protein_ref=prot_ref,
        protein_alt=prot_alt,
        protein_window_mask=torch.ones(B, dtype=torch.bool),
        protein_features=torch.randn(B, PROTEIN_FEATURE_DIM, generator=g),
        protein_mask=torch.ones(B, dtype=torch.bool),
        text=torch.randn(B, MAX_SNIPPETS, TEXT_DIM, generator=g),
        text_mask=torch.ones(B, MAX_SNIPPETS, dtype=torch.bool),
        activity=torch.randn(B, ACTIVITY_DIM, generator=g),
        activity_mask=torch.zeros(B, dtype=torch.bool),
    )


def tiny_model(seed: int = 0, **overrides) -> BioBlip:
    torch.manual_seed(seed)
    return BioBlip(BioBlipConfig.preset("tiny", **overrides)).eval()


def test_shapes_and_heads():
    model = tiny_model()
    cfg = model.config
    x = random_inputs(B=3)
    tokens, mask = model.encode(x)
    assert tokens.shape[:2] == mask.shape and tokens.shape[0] == 3 and tokens.shape[2] == cfg.d_model
    z = model(x)
    assert z.shape == (3, cfg.num_query_tokens, cfg.d_model)
    assert model.prefix(z).shape == (3, cfg.num_query_tokens, cfg.llm_hidden_size)
    assert model.pathogenicity_logit(z).shape == (3,)
    text = torch.randn(5, TEXT_DIM)
    assert model.vtc_logits(z, text).shape == (3, 5)
    assert model.vtc_embed(z).norm(dim=-1).allclose(torch.ones(3, cfg.num_query_tokens), atol=1e-5)
    assert model.vtm_logits(tokens, mask, text[:3]).shape == (3,)


def test_masks_follow_inputs():
    model = tiny_model()
    x = random_inputs(B=2)
    x.gene_mask[0, 3:] = False
    x.text_mask[1] = False
    x.dna_mask[1] = False
    _, mask = model.encode(x)
    cfg = model.config
    # layout: null | dna | genes | protein-change + window | text | activity
    n_dna = cfg.dna_tokens
    assert mask[:, 0].all()  # the null token is always on
    assert mask[0, 1 : 1 + n_dna].all() and not mask[1, 1 : 1 + n_dna].any()
    genes = mask[:, 1 + n_dna : 1 + n_dna + MAX_GENES]
    assert genes[0].tolist() == [True] * 3 + [False] * (MAX_GENES - 3)
    assert not mask[1, -MAX_SNIPPETS - 1 : -1].any() and mask[0, -MAX_SNIPPETS - 1 : -1].all()
    assert not mask[:, -1].any()  # no activity measured
    x.activity_mask[0] = True
    assert model.encode(x)[1][:, -1].tolist() == [True, False]


def test_activity_token_changes_z_only_when_measured():
    """The element's activity reaches Z through its own token, and only where it is measured."""
    model = tiny_model()
    x = random_inputs(B=2)
    z_off = model(x)
    x.activity = torch.randn_like(x.activity) * 10  # masked: no effect
    assert torch.allclose(model(x), z_off, atol=1e-6)
    x.activity_mask[:] = True
    z1 = model(x)
    x.activity[0, 6] += 1.0  # more activity in row 0
    z2 = model(x)
    assert not torch.allclose(z1[0], z2[0]) and torch.allclose(z1[1], z2[1], atol=1e-6)
    assert model.regulates_logit(z2).shape == (2,)


def test_masked_content_is_ignored():
    """What sits in a masked slot must not change Z."""
    model = tiny_model()
    x = random_inputs(B=2)
    x.text_mask[:] = False
    x.protein_window_mask[:] = False
    z1 = model(x)
    x.text = torch.randn_like(x.text) * 100
    x.protein_ref = torch.randint(1, 23, x.protein_ref.shape)
    z2 = model(x)
    assert torch.allclose(z1, z2, atol=1e-5)


def test_dna_encoder_is_skipped_when_no_row_has_dna():
    """With every DNA slot masked the CNN does not run (inference), and Z is what it would have been."""
    model = tiny_model().eval()
    x = random_inputs(B=3)
    x.dna_mask[:] = False
    calls = []
    hook = model.encoders.dna.register_forward_hook(lambda *a: calls.append(1))
    with torch.no_grad():
        skipped = model(x)
        x.dna_mask[0] = True  # one row with DNA: the CNN runs for the batch, the other rows keep their Z
        computed = model(x)
    hook.remove()
    assert calls == [1]
    assert torch.allclose(skipped[1:], computed[1:], atol=1e-5)


def test_missing_modalities_and_fully_masked_rows_are_finite():
    model = tiny_model()
    x = random_inputs(B=3)
    x.protein_mask[0] = False  # noncoding: no protein
    x.dna_mask[1] = False  # protein-level variant: no DNA
    x.dna_ref[1] = DNA_PAD
    for field in ("dna_mask", "protein_mask", "protein_window_mask"):
        getattr(x, field)[2] = False
    x.gene_mask[2] = False
    x.text_mask[2] = False  # row 2: nothing at all
    z = model(x)
    assert torch.isfinite(z).all()
    assert torch.isfinite(model.pathogenicity_logit(z)).all()
    assert not torch.allclose(z[0], z[2])


def test_modality_dropout_only_in_training():
    model = tiny_model(modality_dropout=1.0)
    x = random_inputs(B=2)
    assert model.encode(x)[1].sum() > 2  # eval: no dropout
    model.train()
    _, mask = model.encode(x)
    assert mask.sum(1).tolist() == [1, 1]  # only the null token survives p=1


def test_save_load_round_trip(tmp_path):
    model = tiny_model()
    x = random_inputs(B=2)
    model.save_pretrained(tmp_path, metadata={"calibration": {"a": 1.5, "b": -0.2}})
    loaded = BioBlip.from_pretrained(tmp_path)
    assert loaded.config == model.config
    assert read_metadata(tmp_path)["calibration"] == {"a": 1.5, "b": -0.2}
    # fp16 storage: equal up to half precision
    assert torch.allclose(model(x), loaded(x), atol=2e-2)
    model.save_pretrained(tmp_path / "fp32", dtype=torch.float32)
    assert torch.equal(model(x), BioBlip.from_pretrained(tmp_path / "fp32")(x))


def test_config_mismatch_raises(tmp_path):
    tiny_model().save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    config["gene_feature_dim"] = GENE_FEATURE_DIM + 1
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(BiblipError, match="gene_feature_dim") as err:
        BioBlip.from_pretrained(tmp_path)
    assert err.value.hint
    config["gene_feature_dim"] = GENE_FEATURE_DIM
    config["d_model"] = 64  # weights no longer match the config
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(BiblipError, match="do not match"):
        BioBlip.from_pretrained(tmp_path)
    with pytest.raises(BiblipError, match="not found"):
        BioBlip.from_pretrained(tmp_path / "missing")


def test_presets():
    with pytest.raises(BiblipError):
        BioBlipConfig.preset("huge")
    default = BioBlip(BioBlipConfig.preset("default"))
    assert size_bytes(default) < 20 * 2**20  # shipped checkpoint budget (fp16)
    assert BioBlipConfig().num_query_tokens == 32  # the paper's default
    assert BioBlipConfig.preset("large").d_model == 768


def test_evidence_residual_starts_at_zero_and_needs_the_window():
    """The evidence residual adds nothing until trained, and only where the residue window is known."""
    model = tiny_model()
    x = random_inputs(B=3)
    z = model(x)
    assert torch.allclose(model.pathogenicity_logit(z, x), model.pathogenicity_logit(z))
    torch.nn.init.normal_(model.evidence_head[-1].weight)
    torch.nn.init.constant_(model.evidence_head[-1].bias, 1.0)
    x.protein_window_mask[1] = False  # no sequence: no residual
    x.protein_mask[2] = False  # noncoding: no residual
    moved = model.pathogenicity_logit(z, x) - model.pathogenicity_logit(z)
    assert moved[0].abs() > 0 and moved[1] == 0 and moved[2] == 0


def test_update_checkpoint_writes_weights_and_one_metadata_key(tmp_path):
    from biblip_cli.model.biblip import update_checkpoint

    model = tiny_model()
    model.save_pretrained(tmp_path / "ckpt", metadata={"kept": 1})
    torch.nn.init.constant_(model.evidence_head[-1].bias, 0.5)
    update_checkpoint(model, tmp_path / "ckpt", "evidence_head", {"n_train": 3})
    back = BioBlip.from_pretrained(tmp_path / "ckpt")
    assert read_metadata(tmp_path / "ckpt") == {"kept": 1, "evidence_head": {"n_train": 3}}
    assert back.evidence_head[-1].bias.item() == 0.5
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == [
        "config.json",
        "metadata.json",
        "model.safetensors",
    ]
