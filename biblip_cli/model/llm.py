"""The frozen causal LLM, driven through a soft prefix (BLIP-2 style, `inputs_embeds`).

Prompt layout per row: `[instruction] [prefix: Nq soft tokens] [tail, e.g. "\\nAnswer:"] [answer]`.
The instruction comes first so that, when it is shared by the batch (a `str`), its KV cache is computed
once and reused for every batch: each allele then costs only Nq + len(tail) LLM tokens, which is what
decides CPU speed. A per-row instruction (`list[str]`, e.g. the plain-text "LLM alone" baseline) is
left-padded inside the batch; answers/targets are right-padded after it. The LLM never gets gradients.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import torch
import torch.nn.functional as F

from biblip_cli.model.llm_loading import cpu_threads, load_causal_lm, oom_as_error
from biblip_cli.model.llm_rows import DEFAULT_TAIL, RowScoring, common_prefix

log = logging.getLogger(__name__)


class FrozenLLM(RowScoring):
    """A local transformers causal LM in eval mode with every parameter frozen."""

    def __init__(
        self, model, tokenizer, path: Path, cache_size: int = 16, decode_threads: int | None = 1
    ) -> None:
        self.model, self.tokenizer, self.path = model, tokenizer, path
        # CPU threads for the one-token decode steps of `generate` (None: torch's setting); see cpu_threads
        self.decode_threads = decode_threads
        self.device = next(model.parameters()).device
        self.dtype = next(model.parameters()).dtype
        self.embed = model.get_input_embeddings()
        self.eos_token_id = tokenizer.eos_token_id
        self._stops: torch.Tensor | None = None
        self._instruction_kv: OrderedDict[tuple[int, ...], list[tuple[torch.Tensor, torch.Tensor]]] = (
            OrderedDict()
        )
        self._cache_size = cache_size
        # per-row instruction ends (`score_rows`): (shared start, rest) -> [(k, v) [kv_heads, len, d]]
        self._rest_kv: OrderedDict[tuple[tuple[int, ...], tuple[int, ...]], list] = OrderedDict()
        self._rest_cache_size = 1024  # ~45 KiB per token of SmolLM2-135M: a gene name's ~4 tokens ~0.2 MiB
        # transformers >= 5.2x renamed `past_key_values` to `cache`; the cache object is updated in place
        self._cache_kw = (
            "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
        )
        base = inspect.signature(model.base_model.forward).parameters
        self._base_cache_kw = "cache" if "cache" in base else "past_key_values"
        # logits = head(hidden) exactly (no soft-capping or scaling after the head): the fast keep=1 path
        config = model.config
        self._plain_head = model.get_output_embeddings() is not None and not any(
            getattr(config, name, None)
            for name in ("final_logit_softcapping", "logit_scale", "logits_scaling")
        )

    @classmethod
    def load(
        cls,
        directory: str | Path,
        device: str | torch.device = "cpu",
        dtype: torch.dtype | None = None,
    ) -> FrozenLLM:
        """Local folder only, no remote code. CPU computes in fp32 (bf16 matmuls are slower there), CUDA in bf16.

        int8 dynamic quantisation was tried and dropped: 1.3x faster here, but log-odds correlated only
        0.3 with fp32 (docs/benchmarks.md, "Model forward").
        """
        model, tokenizer = load_causal_lm(directory, device, dtype)
        return cls(model, tokenizer, Path(directory))

    @property
    def hidden_size(self) -> int:
        return self.embed.embedding_dim

    def tokens(self, text: str, special: bool = False) -> list[int]:
        return self.tokenizer(text, add_special_tokens=special).input_ids

    def _embed(self, ids: list[int]) -> torch.Tensor:  # [n, H]
        return self.embed(torch.tensor(ids, dtype=torch.long, device=self.device))

    # --- the shared instruction's KV cache -------------------------------------------------------
    def _shared_kv(self, instruction: str) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Keys/values of the instruction, computed once and kept (LRU, `cache_size` entries).

        Instructions that differ only at the end (the regulates question names a gene last) share the
        computation: the cached entry with the longest common token prefix is cut to that prefix (keys
        and values of a causal LM at position i depend on tokens <= i only) and only the new tokens run.
        """
        return self._kv_of_ids(self.tokens(instruction, special=True))

    def _kv_of_ids(self, ids: list[int] | tuple[int, ...]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """`_shared_kv` for token ids (at least one)."""
        ids = list(ids)
        key = tuple(ids)
        if key in self._instruction_kv:
            self._instruction_kv.move_to_end(key)
            return self._instruction_kv[key]
        from transformers import DynamicCache

        best, shared = None, 0
        for other, kv in self._instruction_kv.items():
            n = common_prefix(other, key)
            if n > shared:
                best, shared = kv, n
        shared = min(shared, len(ids) - 1)  # keep one token to run: it yields this instruction's cache
        cache = DynamicCache()
        if best is not None and shared > 0:
            cache = DynamicCache(ddp_cache_data=[(k[:, :, :shared], v[:, :, :shared]) for k, v in best])
        rest = torch.tensor([ids[shared:]], device=self.device)
        with torch.no_grad(), oom_as_error():
            self.model(input_ids=rest, use_cache=True, **{self._cache_kw: cache})
        kv = [(layer.keys, layer.values) for layer in cache.layers]
        self._instruction_kv[key] = kv
        if len(self._instruction_kv) > self._cache_size:
            self._instruction_kv.popitem(last=False)
        return kv

    def _context(
        self,
        prefix: torch.Tensor | None,
        instruction: str | list[str],
        tail: str | list[str],
        use_cache: bool,
    ):
        """Per-row embeddings [B, n, H] (left-padded), their mask, positions, and the shared-instruction cache.

        `tail` may differ per row (a list): `--explain` puts each variant's facts there, after the prefix,
        so the instruction before the prefix stays shared and cached.
        """
        from transformers import DynamicCache

        if isinstance(instruction, list):
            B = len(instruction)
            if prefix is not None and prefix.shape[0] != B:
                raise ValueError(f"{B} instructions for a prefix batch of {prefix.shape[0]}")
        else:
            B = 1 if prefix is None else prefix.shape[0]
        if isinstance(tail, list) and len(tail) != B:
            raise ValueError(f"{len(tail)} tails for a batch of {B}")
        # the shared cache needs at least one per-row token after it (a prefix or a tail)
        shared = (
            isinstance(instruction, str) and use_cache and (prefix is not None or any(self._per_row(tail, B)))
        )
        heads = [[] if shared else self.tokens(s, special=True) for s in self._per_row(instruction, B)]
        if isinstance(tail, list):
            tails = [self._embed(self.tokens(t)) if t else self._embed([])[:0] for t in tail]
        else:
            tails = [self._embed(self.tokens(tail)) if tail else self._embed([])[:0]] * B
        rows = []
        for b, head in enumerate(heads):
            parts = [self._embed(head)] if head else []
            if prefix is not None:
                parts.append(prefix[b].to(self.dtype))
            parts.append(tails[b])
            rows.append(torch.cat(parts))
        n = max(r.shape[0] for r in rows)
        if n == 0:
            raise ValueError("empty prompt: give an instruction, a prefix or a tail")
        embeds = torch.zeros(B, n, self.hidden_size, dtype=self.dtype, device=self.device)
        mask = torch.zeros(B, n, dtype=torch.long, device=self.device)
        for b, r in enumerate(rows):
            embeds[b, n - r.shape[0] :] = r
            mask[b, n - r.shape[0] :] = 1
        cache, past = None, 0
        if shared:
            kv = self._shared_kv(instruction)
            past = kv[0][0].shape[2]
            cache = DynamicCache(
                ddp_cache_data=[(k.expand(B, -1, -1, -1), v.expand(B, -1, -1, -1)) for k, v in kv]
            )
        positions = past + (mask.cumsum(1) - 1).clamp(min=0)
        full_mask = torch.cat([torch.ones(B, past, dtype=torch.long, device=self.device), mask], dim=1)
        return embeds, full_mask, positions, cache

    @staticmethod
    def _per_row(instruction: str | list[str], B: int) -> list[str]:
        return instruction if isinstance(instruction, list) else [instruction] * B

    def _forward(self, embeds, full_mask, positions, cache, keep: int):
        """The LM's output (`.logits`); `keep=1`: logits of the last position only.

        For `keep=1` the decoder runs alone and the output embedding is applied to the contiguous
        [B, H] last hidden states: transformers' own `logits_to_keep=1` hands the head a strided
        [B, 1, H] slice, which CPU BLAS runs as B matrix-vector products over the whole vocabulary
        (28% of SmolLM2's scoring time, 8x slower than one matrix product; docs/benchmarks.md).
        """
        with oom_as_error():
            if keep == 1 and self._plain_head:
                out = self.model.base_model(
                    inputs_embeds=embeds, attention_mask=full_mask, position_ids=positions,
                    use_cache=cache is not None, **{self._base_cache_kw: cache},
                )  # fmt: skip
                last = out.last_hidden_state[:, -1, :].contiguous()
                return SimpleNamespace(logits=self.model.get_output_embeddings()(last)[:, None, :])
            return self.model(
                inputs_embeds=embeds, attention_mask=full_mask, position_ids=positions,
                use_cache=cache is not None, logits_to_keep=keep, **{self._cache_kw: cache},
            )  # fmt: skip

    # --- operations ------------------------------------------------------------------------------
    @torch.no_grad()
    def score(
        self,
        prefix: torch.Tensor | None,
        instruction: str | list[str],
        answers: list[str],
        tail: str = DEFAULT_TAIL,
        use_cache: bool = True,
    ) -> torch.Tensor:
        """Summed log-probability of each answer [B, A] (float32, on CPU).

        Single-token answers need one forward over Nq + len(tail) tokens per row; longer answers add a
        second pass over the answer tokens, reusing the first pass's cache.
        """
        answer_ids = [self.tokens(a) for a in answers]
        if any(not ids for ids in answer_ids):
            raise ValueError(f"an answer tokenises to nothing: {answers}")
        embeds, full_mask, positions, cache = self._context(prefix, instruction, tail, use_cache)
        B, A = embeds.shape[0], len(answers)
        longest = max(len(ids) for ids in answer_ids)
        if cache is None and longest > 1:
            from transformers import DynamicCache

            cache = DynamicCache()
        out = self._forward(embeds, full_mask, positions, cache, keep=1)
        first = F.log_softmax(out.logits[:, -1].float(), dim=-1)
        scores = first[:, [ids[0] for ids in answer_ids]]
        if longest == 1:
            return scores.cpu()
        # continue every row with every answer: [B*A, longest-1], right-padded
        cache.batch_repeat_interleave(A)
        rest = torch.zeros(A, longest - 1, dtype=torch.long, device=self.device)
        rest_mask = torch.zeros(A, longest - 1, dtype=torch.long, device=self.device)
        for a, ids in enumerate(answer_ids):
            rest[a, : len(ids) - 1] = torch.tensor(ids[:-1])
            rest_mask[a, : len(ids) - 1] = 1
        rest, rest_mask = rest.repeat(B, 1), rest_mask.repeat(B, 1)
        mask2 = torch.cat([full_mask.repeat_interleave(A, 0), rest_mask], dim=1)
        pos2 = positions[:, -1:].repeat_interleave(A, 0) + 1 + torch.arange(longest - 1, device=self.device)
        out2 = self._forward(self.embed(rest), mask2, pos2, cache, keep=0)
        logp = F.log_softmax(out2.logits.float(), dim=-1).view(B, A, longest - 1, -1)
        for a, ids in enumerate(answer_ids):
            if len(ids) > 1:
                targets = torch.tensor(ids[1:], device=self.device)
                idx = torch.arange(len(ids) - 1, device=self.device)
                scores[:, a] += logp[:, a, idx, targets].sum(-1)
        return scores.cpu()

    @torch.no_grad()
    def generate(
        self,
        prefix: torch.Tensor | None,
        instruction: str | list[str],
        max_new_tokens: int = 48,
        tail: str | list[str] = DEFAULT_TAIL,
        min_new_tokens: int = 1,
        one_sentence: bool = False,
    ) -> list[str]:
        """Greedy decoding, batched, with the KV cache; stops a row at EOS (not before `min_new_tokens`:
        small instruct models often end a raw-text prompt at once). `one_sentence`: a row also stops at
        its first sentence end after 3 tokens (callers that keep one sentence save the other steps)."""
        stops = self._sentence_end_ids() if one_sentence else None
        with self._attention("sdpa"):  # one-token steps over a growing cache: SDPA is ~1.4x eager here
            return self._generate(prefix, instruction, max_new_tokens, tail, min_new_tokens, stops)

    def _generate(self, prefix, instruction, max_new_tokens, tail, min_new_tokens, stops) -> list[str]:
        from transformers import DynamicCache

        embeds, full_mask, positions, cache = self._context(prefix, instruction, tail, use_cache=True)
        cache = cache if cache is not None else DynamicCache()
        B = embeds.shape[0]
        out_ids = torch.zeros(B, 0, dtype=torch.long, device=self.device)
        done = torch.zeros(B, dtype=torch.bool, device=self.device)
        last_pos = positions[:, -1:]
        for step in range(max_new_tokens):
            # the prompt step runs with the caller's threads; the one-token steps with `decode_threads`
            with cpu_threads(self.decode_threads if step else None, self.device):
                out = self._forward(embeds, full_mask, positions, cache, keep=1)
            logits = out.logits[:, -1]
            if step < min_new_tokens:
                logits[:, self.eos_token_id] = float("-inf")
            next_id = logits.argmax(-1)
            next_id = torch.where(done, torch.full_like(next_id, self.eos_token_id), next_id)
            out_ids = torch.cat([out_ids, next_id[:, None]], dim=1)
            done |= next_id == self.eos_token_id
            if stops is not None and step >= 3:
                done |= torch.isin(next_id, stops)
            if bool(done.all()):
                break
            embeds = self.embed(next_id)[:, None]
            last_pos = last_pos + 1
            positions = last_pos
            full_mask = torch.cat([full_mask, torch.ones(B, 1, dtype=torch.long, device=self.device)], dim=1)
        texts = []
        for row in out_ids.tolist():
            if self.eos_token_id in row:
                row = row[: row.index(self.eos_token_id)]
            texts.append(self.tokenizer.decode(row, skip_special_tokens=True).strip())
        return texts

    def _sentence_end_ids(self) -> torch.Tensor:
        """Token ids whose text ends a sentence ('.', '!' or '?' last), computed once per tokenizer."""
        if self._stops is None:
            ends = [
                i for i, t in enumerate(self.tokenizer.convert_ids_to_tokens(list(range(len(self.tokenizer)))))
                if t and t.rstrip().endswith((".", "!", "?")) and not t.rstrip().endswith("..")
            ]  # fmt: skip
            self._stops = torch.tensor(ends, dtype=torch.long, device=self.device)
        return self._stops

    @contextlib.contextmanager
    def _attention(self, implementation: str) -> Iterator[None]:
        """Run with another attention implementation on CPU (scoring uses eager: see `load`)."""
        before = getattr(self.model.config, "_attn_implementation", None)
        switch = self.device.type == "cpu" and before not in (None, implementation)
        if switch:
            self.model.set_attn_implementation(implementation)
        try:
            yield
        finally:
            if switch:
                self.model.set_attn_implementation(before)

    def lm_loss(
        self,
        prefix: torch.Tensor | None,
        instruction: str | list[str],
        targets: list[str],
        tail: str = DEFAULT_TAIL,
        add_eos: bool = True,
    ) -> torch.Tensor:
        """Mean cross-entropy over the target tokens only; gradients reach `prefix`, never the LLM."""
        embeds, full_mask, positions, cache = self._context(prefix, instruction, tail, use_cache=True)
        B = embeds.shape[0]
        if len(targets) != B:
            raise ValueError(f"{len(targets)} targets for a batch of {B}")
        target_ids = [self.tokens(t) + ([self.eos_token_id] if add_eos else []) for t in targets]
        T = max(len(ids) for ids in target_ids)
        labels = torch.full((B, T), -100, dtype=torch.long, device=self.device)
        for b, ids in enumerate(target_ids):
            labels[b, : len(ids)] = torch.tensor(ids)
        target_mask = (labels != -100).long()
        # the last context position predicts target token 0; target token t predicts t+1
        inputs = torch.cat([embeds, self.embed(labels.clamp(min=0))], dim=1)
        full_mask = torch.cat([full_mask, target_mask], dim=1)
        positions = torch.cat([positions, positions[:, -1:] + 1 + torch.arange(T, device=self.device)], dim=1)
        out = self._forward(inputs, full_mask, positions, cache, keep=T + 1)
        logits = out.logits[:, :-1].float()  # [B, T, V]: predictions for target tokens 0..T-1
        return F.cross_entropy(logits.reshape(B * T, -1), labels.reshape(-1), ignore_index=-100)
