"""End-to-end `biblip train` on a tiny bundle, tiny Bio-BLIP and a 2-layer random Llama."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from biblip_cli.features.inputs import TEXT_DIM

REPO = Path(__file__).resolve().parent.parent
REGION = "chr20:4600000-4800000"  # PRNP, PRND, ... (sequence in the shared FASTA)


def _llm_home() -> Path:
    """The prepared SmolLM2 folder: under $BIBLIP_HOME (where `biblip models prepare` and the other tests put
    it), else the default ~/.cache/biblip."""
    from biblip_cli.model.weights import biblip_home

    for home in (biblip_home(), Path.home() / ".cache" / "biblip"):
        if (home / "llm" / "SmolLM2-135M-Instruct" / "tokenizer.json").is_file():
            return home / "llm" / "SmolLM2-135M-Instruct"
    return biblip_home() / "llm" / "SmolLM2-135M-Instruct"


LLM_HOME = _llm_home()


class HashEmbedder:
    """Stand-in for the sentence encoder: a fixed random unit vector per text (no model, no disk)."""

    model_dir = Path("hash-embedder")

    def embed(self, texts):
        out = np.zeros((len(texts), TEXT_DIM), np.float32)
        for i, t in enumerate(texts):
            if t:
                seed = int(hashlib.sha1(t.encode()).hexdigest()[:8], 16)
                v = np.random.default_rng(seed).standard_normal(TEXT_DIM).astype(np.float32)
                out[i] = v / np.linalg.norm(v)
        return out

    def precompute(self, texts):
        return 0


def _subset(src: Path, dest: Path, keep) -> None:
    with gzip.open(src, "rt") as fin, gzip.open(dest, "wt") as fout:
        header = fin.readline()
        fout.write(header)
        cols = header.rstrip("\n").split("\t")
        for line in fin:
            row = dict(zip(cols, line.rstrip("\n").split("\t"), strict=False))
            if keep(row):
                fout.write(line)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny models run fastest (and steadiest on a busy machine) on one thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _build_small_bundle(shared_data: Path, bundle_dir: Path) -> None:
    from biblip_cli.bundle.build import BuildInputs, build_bundle
    from biblip_cli.bundle.subsets import Region

    inputs = BuildInputs.with_hpo_dir(
        str(shared_data / "hpo"),
        fasta=str(shared_data / "reference/GRCh38.chr20_chr21_10M.fa.gz"),
        gtf=str(shared_data / "genes/canonical.GRCh38.gtf.gz"),
        proteins=str(shared_data / "genes/proteins.demo.fa"),
        knowledge=str(shared_data / "knowledge/genes.tsv.gz"),
    )
    build_bundle(inputs, bundle_dir, region=Region.parse(REGION))


@pytest.fixture(scope="module")
def tiny_setup(tmp_path_factory, shared_data):
    """The demo bundle (or a cut of chr20) and small subsets of the labels and enhancer files."""
    root = tmp_path_factory.mktemp("train")
    bundle_dir = REPO / "resources" / "demo_bundle"
    if not (bundle_dir / "manifest.json").is_file():  # before the demo bundle exists: cut one
        bundle_dir = root / "bundle"
        _build_small_bundle(shared_data, bundle_dir)
    data = root / "data"
    (data / "labels").mkdir(parents=True)
    (data / "enhancers").mkdir()
    genes = {"PRNP", "PRND", "RASSF2", "SLC23A2", "TMEM230", "PCNA", "CDS2", "PROKR2", "GPCPD1", "SMOX"}
    rng = np.random.default_rng(0)
    far = {"BRCA1", "TP53", "CFTR", "MYH7", "SCN1A", "LMNA", "FBN1", "COL1A1", "PAH", "GAA", "ABCA4", "RYR1"}
    _subset(
        shared_data / "labels/protein_variants.tsv.gz",
        data / "labels/protein_variants.tsv.gz",
        lambda r: r["gene_symbol"] in genes or (r["gene_symbol"] in far and rng.random() < 0.15),
    )
    _subset(
        shared_data / "enhancers/crispr_K562_training.GRCh38.tsv.gz",
        data / "enhancers/crispr_K562_training.GRCh38.tsv.gz",
        lambda r: r["chrom"] in ("chr20", "chr21", "chr22") or rng.random() < 0.01,
    )
    _subset(
        shared_data / "enhancers/Fulco2019_K562.GRCh38.tsv.gz",
        data / "enhancers/Fulco2019_K562.GRCh38.tsv.gz",
        lambda r: True,
    )
    return bundle_dir, data


@pytest.fixture(scope="module")
def tiny_llm(tmp_path_factory):
    if not (LLM_HOME / "tokenizer.json").is_file():
        pytest.skip("needs the prepared SmolLM2 tokenizer (`biblip models prepare`)")
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    folder = tmp_path_factory.mktemp("llm")
    tok = AutoTokenizer.from_pretrained(LLM_HOME)
    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
    )  # fmt: skip
    LlamaForCausalLM(cfg).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def _examples(bundle_dir: Path, data: Path):
    from biblip_cli.bundle import Bundle
    from biblip_cli.training.examples import DATA_FILES, build_examples

    bundle = Bundle.open(bundle_dir)
    return build_examples(bundle, *(data / DATA_FILES[k] for k in ("labels", "crispr", "fulco")))


def _trainer(tmp: Path, setup, llm_dir: Path, examples, **kw):
    from biblip_cli.model.llm import FrozenLLM
    from biblip_cli.training.train import Trainer, TrainOptions

    bundle_dir, data = setup
    opts = TrainOptions(out=tmp, bundle=bundle_dir, data=data, preset="tiny", device="cpu", llm_dir=llm_dir,
                        progress=False, **kw)  # fmt: skip
    trainer = Trainer(opts)
    trainer.setup(examples=examples, text_embedder=HashEmbedder(), llm=FrozenLLM.load(llm_dir))
    return trainer


def test_train_end_to_end_and_resume(tmp_path, tiny_setup, tiny_llm):
    """A full tiny run saves a loadable checkpoint with splits; interrupt + resume gives the same weights."""
    from biblip_cli.model.biblip import BioBlip, read_metadata

    examples = _examples(*tiny_setup)
    trainer = _trainer(tmp_path / "run", tiny_setup, tiny_llm, examples)
    llm_before = {k: v.clone() for k, v in trainer.llm.model.state_dict().items()}
    out = trainer.train()
    assert out == tmp_path / "run"
    for k, v in trainer.llm.model.state_dict().items():
        assert torch.equal(v, llm_before[k]), f"LLM weight {k} changed"
    model = BioBlip.from_pretrained(out)
    assert model.config.num_query_tokens == trainer.model.config.num_query_tokens
    meta = read_metadata(out)
    splits = meta["splits"]
    assert splits["test_chroms"][0] == "chr21"
    assert set(splits["counts"]) == {"train", "val", "test"}
    assert splits["counts"]["train"]["pathogenicity"] > 0
    assert {"a", "b"} <= set(meta["calibration"])
    assert meta["training"]["stage1_steps"] == 6
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert {r["event"] for r in log} >= {"train", "eval", "final"}
    assert (out / "model.safetensors").stat().st_size < 20 * 2**20
    assert not (out / "last").exists()  # the resume state is dropped once the run is finished

    part = _trainer(tmp_path / "part", tiny_setup, tiny_llm, examples, stop_after_steps=4)
    assert part.train() is None  # interrupted inside stage 1
    assert (tmp_path / "part" / "last" / "state.pt").is_file()
    resumed = _trainer(tmp_path / "part", tiny_setup, tiny_llm, examples, resume=True)
    assert resumed.train() == tmp_path / "part"
    a, b = trainer.model.state_dict(), resumed.model.state_dict()
    for k in a:
        assert torch.equal(a[k], b[k]), f"{k} differs after resume"


def test_loss_decreases_on_fixed_batch(tmp_path, tiny_setup, tiny_llm):
    from biblip_cli.training.losses import stage1_losses

    examples = _examples(*tiny_setup)
    trainer = _trainer(tmp_path / "run", tiny_setup, tiny_llm, examples)
    items = trainer.train_items[:16]
    x = trainer.featurize(items)
    texts = [it.description for it in items]
    emb = torch.as_tensor(trainer.text.embed(texts))
    labels = torch.tensor([-1 if it.label is None else it.label for it in items])
    opt = torch.optim.Adam(trainer.model.parameters(), lr=3e-3)
    trainer.model.config.modality_dropout = 0.0
    first = last = None
    trace = []
    for i in range(20):
        torch.manual_seed(i)
        loss = sum(stage1_losses(trainer.model, x, emb, texts, labels).values())
        opt.zero_grad()
        loss.backward()
        opt.step()
        first = float(loss) if first is None else first
        last = float(loss)
        trace.append(last)
    # the contrastive terms are noisy on 16 items: judge the last five steps, not the last one
    assert sum(trace[-5:]) / 5 < 0.8 * first, trace
    # stage 2: the LM loss through the frozen LLM goes down too
    pool = trainer.pools["pathogenicity"][:8]
    x2 = trainer.featurize([e.item for e in pool])
    targets = [e.answer for e in pool]
    losses = []
    for _ in range(15):
        loss = trainer.llm.lm_loss(
            trainer.model.prefix(trainer.model(x2)), pool[0].instruction, targets, add_eos=False
        )
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss))
    assert losses[-1] < losses[0]
