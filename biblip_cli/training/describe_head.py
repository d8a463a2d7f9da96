"""Training the describe residual of the prefix (`scripts/fit_describe_head.py`, model/describe.py).

Targets carry the fields a user asks of a description: the consequence, the pathogenicity class (of
training-split variants only), what the gene encodes and its linked phenotypes (from the bundle's gene
knowledge), in one of three wordings. The prompt is the describe instruction and the prefix: the LLM
must read every field from the queries. Only `describe_delta` learns; the Q-former, the other heads and
the LLM are frozen, so every score biblip reports is unchanged. The queries Z are computed once (eval
mode), so a step costs one LLM forward and backward over the target tokens.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from biblip_cli.model import describe as D
from biblip_cli.model.biblip import BioBlip
from biblip_cli.model.prompts import describe_prompt
from biblip_cli.model.texts import consequence_words, gene_phenotypes, short_name
from biblip_cli.records import ProteinVariant
from biblip_cli.training.evidence_head import only_trainable

log = logging.getLogger(__name__)
MAX_TARGET_PHENOTYPES = 2  # phenotype names per target (each costs target tokens, i.e. CPU time)


@dataclass(frozen=True)
class DescribeRecipe:
    steps: int = 400
    batch_size: int = 16
    lr: float = 1e-3
    warmup: int = 20
    weight_decay: float = 1e-2
    max_minutes: float = 60.0  # stop early (state kept for --resume) when the wall time runs out
    eval_every: int = 50
    save_every: int = 25
    seed: int = 0


def describe_target(pv: ProteinVariant, label: str, knowledge: Any, rng: random.Random | None) -> str:
    """The describe answer of one labelled variant (model/describe.TEMPLATES)."""
    from biblip_cli.features.protein import protein_consequence

    term = protein_consequence(pv.ref_aa, pv.alt_aa, pv.position)
    phenotypes = gene_phenotypes(knowledge)[:MAX_TARGET_PHENOTYPES]
    return D.target_text(consequence_words(term), label, short_name(knowledge), phenotypes, rng)


def describe_loss(model: BioBlip, llm: Any, z: torch.Tensor, targets: Sequence[str]) -> torch.Tensor:
    return llm.lm_loss(model.describe_prefix(z), describe_prompt().instruction, list(targets), add_eos=True)


def _lr(step: int, recipe: DescribeRecipe) -> float:
    import math

    if step < recipe.warmup:
        return recipe.lr * (step + 1) / recipe.warmup
    done = (step - recipe.warmup) / max(1, recipe.steps - recipe.warmup)
    return recipe.lr * 0.5 * (1 + math.cos(math.pi * min(1.0, done)))


def train_describe_head(
    model: BioBlip,
    llm: Any,
    z: torch.Tensor,
    make_target: Callable[[int, random.Random], str],
    val_z: torch.Tensor,
    val_targets: Sequence[str],
    recipe: DescribeRecipe,
    state_path: Path | None = None,
    resume: bool = False,
) -> list[dict]:
    """Fit `model.describe_delta` on rows of `z` [N, Nq, d] with `make_target(row, rng)` (a fresh wording
    per draw). Saves {delta, optimizer, step, history} to `state_path` every `save_every` steps (through a
    rename); `resume` continues from it. Returns the history (train loss, val loss every `eval_every`)."""
    head = model.describe_delta
    opt = only_trainable(model, head, recipe.lr, recipe.weight_decay)
    step, history = 0, []
    if resume and state_path is not None and state_path.is_file():
        state = torch.load(state_path, weights_only=True)
        head.load_state_dict(state["delta"])
        opt.load_state_dict(state["optimizer"])
        step, history = int(state["step"]), list(state["history"])
        log.info("describe head: resumed at step %d", step)
    rng = random.Random(recipe.seed * 1_000_003 + step)
    gen = torch.Generator().manual_seed(recipe.seed * 7919 + step)
    started = time.perf_counter()

    def save() -> None:
        if state_path is None:
            return
        tmp = state_path.with_suffix(".tmp")
        torch.save({"delta": head.state_dict(), "optimizer": opt.state_dict(), "step": step,
                    "history": history}, tmp)  # fmt: skip
        tmp.replace(state_path)

    def val_loss() -> float:
        with torch.no_grad():
            parts = [
                float(describe_loss(model, llm, val_z[i : i + 32], val_targets[i : i + 32]))
                * len(val_targets[i : i + 32])
                for i in range(0, len(val_targets), 32)
            ]
        return sum(parts) / max(1, len(val_targets))

    if step == 0:
        history.append({"step": 0, "val_loss": round(val_loss(), 4)})
        log.info("describe head: val loss before %.4f", history[-1]["val_loss"])
    head.train()
    while step < recipe.steps:
        if (time.perf_counter() - started) / 60 > recipe.max_minutes:
            log.info("describe head: out of time at step %d (resume with --resume)", step)
            break
        rows = torch.randint(0, z.shape[0], (recipe.batch_size,), generator=gen)
        targets = [make_target(int(r), rng) for r in rows]
        for group in opt.param_groups:
            group["lr"] = _lr(step, recipe)
        loss = describe_loss(model, llm, z[rows], targets)
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        record: dict[str, Any] = {"step": step, "loss": round(float(loss.detach()), 4)}
        if step % recipe.eval_every == 0 or step == recipe.steps:
            head.eval()
            record["val_loss"] = round(val_loss(), 4)
            head.train()
            log.info(
                "describe head step %d: loss %.4f, val loss %.4f", step, record["loss"], record["val_loss"]
            )
        history.append(record)
        if step % recipe.save_every == 0:
            save()
    save()
    head.eval()
    for p in head.parameters():
        p.requires_grad_(False)
    return history
