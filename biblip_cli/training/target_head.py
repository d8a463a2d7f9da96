"""Training the regulates head and the activity token (`scripts/fit_target_head.py`).

Only `encoders.activity` and `regulates_head` learn; every other weight of the checkpoint is frozen,
so the pathogenicity, phenotype and generation paths give exactly what they gave before. The
Q-former still shapes the answer: the head reads Z, which attends to the element's activity token,
its DNA (where the bundle has sequence), the candidate genes' distances and knowledge texts.
Activity is hidden for a share of the examples (`activity_dropout`) so that the head also answers
for elements given as a plain BED.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F

from biblip_cli.features.inputs import VariantInputs
from biblip_cli.model.biblip import BioBlip

MODULES = ("encoders.activity.", "regulates_head.")  # what learns here; the rest stays frozen

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HeadRecipe:
    epochs: int = 6
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 1e-2
    activity_dropout: float = 0.3
    positive_weight: float = 4.0  # ~1 regulated pair in 20: weigh positives up, not to full balance
    seed: int = 0


def trainable(model: BioBlip) -> list[torch.nn.Parameter]:
    """Freeze the checkpoint; return the parameters of the activity token and the regulates head."""
    params = []
    for name, p in model.named_parameters():
        p.requires_grad_(name.startswith(MODULES))
        if p.requires_grad:
            params.append(p)
    return params


def head_logits(model: BioBlip, x: VariantInputs, batch_size: int = 512, activity: bool = True) -> np.ndarray:
    """Regulates-head logits of a batch (`activity=False`: as if no activity was measured)."""
    model.eval()
    out = []
    with torch.inference_mode():
        for start in range(0, len(x), batch_size):
            part = x.select(list(range(start, min(start + batch_size, len(x)))))
            if not activity:
                part = replace(part, activity_mask=torch.zeros_like(part.activity_mask))
            out.append(model.regulates_logit(model(part)).float().numpy())
    return np.concatenate(out) if out else np.zeros(0)


def train_head(
    model: BioBlip,
    x: VariantInputs,
    y: Sequence[bool],
    offset: np.ndarray,
    offset_without: np.ndarray,
    recipe: HeadRecipe = HeadRecipe(),
) -> list[dict]:
    """AdamW on the trainable part for a fixed number of epochs (no early stopping: the val pairs are
    too few to choose on). The head learns the residual of a transparent score: its logit is added
    to `offset` (the distance/activity logistic of each pair) or, where the activity is hidden,
    `offset_without`, so it is rewarded only for what distance and activity do not already say.
    Returns the log (one dict per epoch)."""
    torch.manual_seed(recipe.seed)
    opt = torch.optim.AdamW(trainable(model), lr=recipe.lr, weight_decay=recipe.weight_decay)
    yt = torch.as_tensor(np.asarray(y, dtype=np.float32))
    base = torch.as_tensor(np.asarray(offset, dtype=np.float32))
    base_without = torch.as_tensor(np.asarray(offset_without, dtype=np.float32))
    weight = 1.0 + (recipe.positive_weight - 1.0) * yt
    history = []
    for epoch in range(1, recipe.epochs + 1):
        model.eval()  # frozen parts without dropout; the trained part is small and regularised by decay
        order = torch.randperm(len(x))
        total = 0.0
        for start in range(0, len(order), recipe.batch_size):
            idx = order[start : start + recipe.batch_size]
            batch = x.select(idx)
            hide = torch.rand(len(idx)) < recipe.activity_dropout
            shown = batch.activity_mask & ~hide
            batch = replace(batch, activity_mask=shown)
            logit = model.regulates_logit(model(batch)) + torch.where(shown, base[idx], base_without[idx])
            loss = F.binary_cross_entropy_with_logits(logit, yt[idx], weight=weight[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        history.append({"epoch": epoch, "loss": total / max(len(x), 1)})
        log.info("target head epoch %d: loss %.4f", epoch, total / max(len(x), 1))
    for p in model.parameters():
        p.requires_grad_(False)
    return history


def reset_head(model: BioBlip, seed: int) -> None:
    """Fresh init of the activity token and the regulates head (each cross-fitting fold starts here)."""
    torch.manual_seed(seed)
    for name, module in model.named_modules():
        if name.startswith(tuple(m.rstrip(".") for m in MODULES)) and hasattr(module, "reset_parameters"):
            module.reset_parameters()
