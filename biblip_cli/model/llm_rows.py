"""`FrozenLLM.score_rows`: one instruction per row, scored in one forward over a shared-start KV cache.

The regulates question names the gene last, so a batch's instructions share a start and differ at the
end: the start's keys/values are computed once, each distinct end ("rest") once, and each row's cache
is [shared start; its rest, left-padded]. `RowScoring` is mixed into `FrozenLLM` (model/llm.py), whose
tokenizer, caches and `_forward` it uses.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from biblip_cli.model.llm_loading import oom_as_error

DEFAULT_TAIL = "\nAnswer:"

KV = list[tuple[torch.Tensor, torch.Tensor]]  # per layer: (keys, values)


class RowScoring:
    """`score_rows` and its rest cache; the attributes it reads are set by `FrozenLLM.__init__`."""

    @torch.no_grad()
    def score_rows(
        self,
        prefix: torch.Tensor,
        instructions: list[str],
        answers: list[str],
        tail: str = DEFAULT_TAIL,
    ) -> torch.Tensor:
        """`score` with one instruction per row, in one forward for the whole batch [B, A].

        For instructions that share a start and differ at the end (the regulates question names the gene
        last): the shared start's keys/values are computed once (`_kv_of_ids`), each distinct rest once
        (one batched forward over the new rests, kept in an LRU), and each row's cache is [shared start;
        its rest, left-padded]. Padding is masked and positions continue each row's own length, so a row
        gets what `score(prefix[b:b+1], instructions[b], ...)` gives, up to float rounding of batched
        matrix products. Multi-token answers fall back to one `score` per distinct instruction.
        """
        B = prefix.shape[0]
        if len(instructions) != B:
            raise ValueError(f"{len(instructions)} instructions for a prefix batch of {B}")
        answer_ids = [self.tokens(a) for a in answers]
        if any(not ids for ids in answer_ids):
            raise ValueError(f"an answer tokenises to nothing: {answers}")
        if B == 0:
            return torch.zeros(0, len(answers))
        row_ids = [tuple(self.tokens(s, special=True)) for s in instructions]
        distinct = list(dict.fromkeys(row_ids))
        if any(len(ids) > 1 for ids in answer_ids) or min(len(ids) for ids in distinct) < 2:
            return self._score_each_instruction(prefix, instructions, answers, tail)
        shared = min(len(ids) for ids in distinct) - 1  # every row keeps >= 1 token of its own
        for ids in distinct[1:]:
            shared = min(shared, common_prefix(distinct[0], ids))
        start = distinct[0][:shared]
        base = self._kv_of_ids(start) if shared else None
        rests = list(dict.fromkeys(ids[shared:] for ids in row_ids))
        known = self._rests_kv(start, base, rests)
        longest = max(len(r) for r in rests)
        rest_index = {r: i for i, r in enumerate(rests)}
        rows_rest = torch.tensor([rest_index[ids[shared:]] for ids in row_ids], device=self.device)
        lengths = torch.tensor([len(r) for r in rests], device=self.device)
        pads = (longest - lengths)[rows_rest]  # [B] left padding of each row's rest
        cache = _row_cache([known[r] for r in rests], rows_rest, base, B, longest)
        tail_embeds = self._embed(self.tokens(tail)) if tail else self._embed([])[:0]
        embeds = torch.cat([prefix.to(self.dtype), tail_embeds.expand(B, -1, -1)], dim=1)
        n = embeds.shape[1]
        rest_mask = (torch.arange(longest, device=self.device)[None, :] >= pads[:, None]).long()
        full_mask = torch.cat(
            [
                torch.ones(B, shared, dtype=torch.long, device=self.device),
                rest_mask,
                torch.ones(B, n, dtype=torch.long, device=self.device),
            ],
            dim=1,
        )
        own_length = shared + longest - pads  # tokens before the prefix, per row
        positions = own_length[:, None] + torch.arange(n, device=self.device)[None, :]
        out = self._forward(embeds, full_mask, positions, cache, keep=1)
        first = F.log_softmax(out.logits[:, -1].float(), dim=-1)
        return first[:, [ids[0] for ids in answer_ids]].cpu()

    def _score_each_instruction(
        self, prefix: torch.Tensor, instructions: list[str], answers: list[str], tail: str
    ) -> torch.Tensor:
        """The fallback of `score_rows`: one `score` per distinct instruction [B, A]."""
        out = torch.zeros(prefix.shape[0], len(answers))
        for text in dict.fromkeys(instructions):
            rows = [b for b, s in enumerate(instructions) if s == text]
            out[rows] = self.score(prefix[rows], text, answers, tail=tail)
        return out

    def _rests_kv(
        self, start: tuple[int, ...], base: KV | None, rests: list[tuple[int, ...]]
    ) -> dict[tuple[int, ...], KV]:
        """Keys/values of each rest after `start`: from the LRU where kept, the others computed."""
        known = {}
        for r in rests:
            if (start, r) in self._rest_kv:
                self._rest_kv.move_to_end((start, r))
                known[r] = self._rest_kv[(start, r)]
        known.update(self._compute_rests(start, base, [r for r in rests if r not in known]))
        return known

    def _compute_rests(
        self,
        start: tuple[int, ...],
        base: KV | None,
        rests: list[tuple[int, ...]],
    ) -> dict[tuple[int, ...], KV]:
        """Keys/values of each rest after the shared start, in one right-padded forward (kept in the LRU)."""
        if not rests:
            return {}
        from transformers import DynamicCache

        R, longest, shared = len(rests), max(len(r) for r in rests), len(start)
        ids = torch.zeros(R, longest, dtype=torch.long, device=self.device)
        mask = torch.zeros(R, shared + longest, dtype=torch.long, device=self.device)
        mask[:, :shared] = 1
        for i, rest in enumerate(rests):
            ids[i, : len(rest)] = torch.tensor(rest, device=self.device)
            mask[i, shared : shared + len(rest)] = 1
        cache = DynamicCache()
        if base is not None:
            cache = DynamicCache(
                ddp_cache_data=[(k.expand(R, -1, -1, -1), v.expand(R, -1, -1, -1)) for k, v in base]
            )
        positions = shared + torch.arange(longest, device=self.device).expand(R, -1)
        with torch.no_grad(), oom_as_error():
            self.model.base_model(
                input_ids=ids, attention_mask=mask, position_ids=positions,
                use_cache=True, **{self._base_cache_kw: cache},
            )  # fmt: skip
        computed = {}
        for i, rest in enumerate(rests):  # right padding: the real tokens are the first len(rest)
            computed[rest] = [
                (layer.keys[i, :, shared : shared + len(rest)].clone(),
                 layer.values[i, :, shared : shared + len(rest)].clone())
                for layer in cache.layers
            ]  # fmt: skip
            self._rest_kv[(start, rest)] = computed[rest]
        while len(self._rest_kv) > self._rest_cache_size:
            self._rest_kv.popitem(last=False)
        return computed


def _row_cache(entries: list[KV], rows_rest: torch.Tensor, base: KV | None, B: int, longest: int):
    """Each row's cache [shared start; its rest, left-padded to `longest`] from the distinct rests' KV."""
    from transformers import DynamicCache

    layers = []
    for layer in range(len(entries[0])):
        padded_k, padded_v = [], []
        for entry in entries:  # distinct rests (genes), not rows
            k, v = entry[layer]
            pad = longest - k.shape[1]
            padded_k.append(F.pad(k, (0, 0, pad, 0)))
            padded_v.append(F.pad(v, (0, 0, pad, 0)))
        k_rows = torch.stack(padded_k)[rows_rest]  # [B, kv_heads, longest, d]
        v_rows = torch.stack(padded_v)[rows_rest]
        if base is not None:
            bk, bv = base[layer]
            k_rows = torch.cat([bk.expand(B, -1, -1, -1), k_rows], dim=2)
            v_rows = torch.cat([bv.expand(B, -1, -1, -1), v_rows], dim=2)
        layers.append((k_rows, v_rows))
    return DynamicCache(ddp_cache_data=layers)


def common_prefix(a: tuple[int, ...], b: tuple[int, ...]) -> int:
    """How many leading tokens `a` and `b` share."""
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n
