"""What each training step draws and at which learning rate: seed-fixed streams, so a resumed run continues
exactly like an uninterrupted one; the stage-2 mix of instruction kinds is planned here once."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from biblip_cli.training.example_set import Example, ExampleSet

STAGE2_KINDS = ("pathogenicity", "phenotype", "regulates", "describe")


def stream_indices(n: int, batch: int, step: int, seed: int, salt: int) -> list[int]:
    """Indices of `step`'s batch in an endless stream of seed-fixed permutations of range(n)."""
    out = []
    for p in range(step * batch, step * batch + batch):
        epoch, pos = divmod(p, n)
        out.append(int(_permutation(n, seed, salt, epoch)[pos]))
    return out


@functools.lru_cache(maxsize=16)
def _permutation(n: int, seed: int, salt: int, epoch: int) -> np.ndarray:
    return np.random.default_rng([seed, salt, epoch]).permutation(n)


def lr_at(step: int, total: int, base: float, warmup_frac: float = 0.05) -> float:
    """Linear warm-up then cosine decay to 10%."""
    warm = max(1, int(total * warmup_frac))
    if step < warm:
        return base * (step + 1) / warm
    t = (step - warm) / max(1, total - warm)
    return base * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(t, 1.0))))


def training_genes(examples: ExampleSet, max_genes: int | None, prefer: set[str] | None = None) -> set[str]:
    """The train-split genes used: all (`max_genes` None or 0), or `max_genes` of them: the `prefer`red
    genes first (those with a protein sequence: only they carry the residue-level evidence), then the
    others in sha1 order (a fixed random subset)."""
    import hashlib

    genes = examples.genes("train")
    if max_genes and len(genes) > max_genes:
        preferred = prefer or set()
        genes = sorted(
            genes, key=lambda g: (g not in preferred, hashlib.sha1(f"subset|{g}".encode()).digest())
        )[:max_genes]
    return set(genes)


def stream_salt(kind: str) -> int:
    return 10 + STAGE2_KINDS.index(kind)


@dataclass
class Stage2Plan:
    """Stage 2's example pools per kind, the regulates pools grouped by gene (one shared instruction),
    the kind of every step and how many earlier steps drew the same kind (its stream position)."""

    pools: dict[str, list[Example]]
    regulates_groups: list[list[int]]
    schedule: list[str]
    schedule_pos: list[int]


def plan_stage2(
    examples: ExampleSet, train_genes: set[str], mix: dict[str, float], seed: int, steps: int
) -> Stage2Plan:
    pools = {
        k: [
            e
            for e in examples.of("train", k)
            if e.item.gene in train_genes and (e.label is not None or k == "describe")
        ]
        for k in STAGE2_KINDS
    }
    by_instruction: dict[str, list[int]] = {}
    for i, e in enumerate(pools["regulates"]):
        by_instruction.setdefault(e.instruction, []).append(i)
    regulates_groups = [by_instruction[k] for k in sorted(by_instruction)]
    kinds = [k for k in STAGE2_KINDS if pools[k] and mix.get(k, 0) > 0]
    w = np.array([mix[k] for k in kinds])
    sched_rng = np.random.default_rng([seed, 2])
    schedule = [kinds[i] for i in sched_rng.choice(len(kinds), size=steps, p=w / w.sum())]
    seen: dict[str, int] = {}
    schedule_pos = []  # how many earlier stage-2 steps drew the same kind: its stream position
    for kind in schedule:
        schedule_pos.append(seen.get(kind, 0))
        seen[kind] = seen.get(kind, 0) + 1
    return Stage2Plan(pools, regulates_groups, schedule, schedule_pos)
