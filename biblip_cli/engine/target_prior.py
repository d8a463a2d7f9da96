"""The target-gene score: Bio-BLIP's "does this element regulate G?" log-odds on top of a distance prior.

Alone, the shipped checkpoint's regulates answer ranks genes worse than distance (docs/evaluation.md):
it saw ~1,400 CRISPRi pairs and no DNA for them. Distance to the TSS and the number of genes whose TSS is
closer are the strongest known features of enhancer-gene links (Gschwind et al. 2025), and both are
known for every candidate, so the score is a two-step logistic model stored in the checkpoint's
`metadata.json` -> `target_prior`:

    prior  = w_d * log10(|distance| + 1 kb) + w_c * log(1 + genes with a closer TSS) + b
    score  = sigmoid(a * prior + m * model_log_odds + c)

The prior is fitted on every CRISPRi training pair (Fulco 2019 genes and loci excluded, as in
training); a, m and c on the pairs of held-out genes only (val/test split), whose model answers are
not memorised. `scripts/fit_target_prior.py` fits and writes it; without it `biblip target` reports
P(yes) of the model alone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

FEATURES = ("log10_distance_plus_1kb", "log1p_closer_genes")


def distance_features(distance: Sequence[float], closer: Sequence[float]) -> np.ndarray:
    """(n, 2) features of the prior from the TSS distance (bp, any sign) and the count of closer genes."""
    d = np.abs(np.asarray(distance, dtype=np.float64))
    c = np.asarray(closer, dtype=np.float64)
    return np.stack([np.log10(d + 1000.0), np.log1p(c)], axis=1)


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1e-3) -> tuple[list[float], float]:
    """Weights and bias of an L2-regularised logistic regression (LBFGS; features are few and dense)."""
    import torch  # fitting only: `biblip target --no-model` reads this module without torch
    import torch.nn.functional as F

    xs = torch.as_tensor(np.asarray(x, dtype=np.float64))
    ys = torch.as_tensor(np.asarray(y, dtype=np.float64))
    w = torch.zeros(xs.shape[1] + 1, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w], max_iter=500, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = F.binary_cross_entropy_with_logits(xs @ w[:-1] + w[-1], ys) + l2 * (w[:-1] ** 2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    out = w.detach().numpy()
    return [float(v) for v in out[:-1]], float(out[-1])


@dataclass(frozen=True)
class TargetPrior:
    prior_weights: tuple[float, float]
    prior_bias: float
    prior_scale: float = 1.0  # a
    model_weight: float = 0.0  # m
    bias: float = 0.0  # c

    def prior(self, distance: Sequence[float], closer: Sequence[float]) -> np.ndarray:
        return distance_features(distance, closer) @ np.asarray(self.prior_weights) + self.prior_bias

    def log_odds(
        self, distance: Sequence[float], closer: Sequence[float], model_log_odds: Sequence[float]
    ) -> np.ndarray:
        m = np.asarray(model_log_odds, dtype=np.float64)
        return self.prior_scale * self.prior(distance, closer) + self.model_weight * m + self.bias

    def probability(
        self, distance: Sequence[float], closer: Sequence[float], model_log_odds: Sequence[float]
    ) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-self.log_odds(distance, closer, model_log_odds)))

    @classmethod
    def from_metadata(cls, metadata: dict[str, Any]) -> TargetPrior | None:
        entry = metadata.get("target_prior")
        if not entry:
            return None
        if tuple(entry.get("features", ())) != FEATURES:
            raise ValueError(f"target_prior features {entry.get('features')} != {FEATURES}")
        return cls(
            tuple(float(v) for v in entry["prior_weights"]),  # type: ignore[arg-type]
            float(entry["prior_bias"]),
            float(entry.get("prior_scale", 1.0)),
            float(entry.get("model_weight", 0.0)),
            float(entry.get("bias", 0.0)),
        )

    def to_metadata(self, **about: Any) -> dict[str, Any]:
        return {
            "features": list(FEATURES),
            "prior_weights": list(self.prior_weights),
            "prior_bias": self.prior_bias,
            "prior_scale": self.prior_scale,
            "model_weight": self.model_weight,
            "bias": self.bias,
            **about,
        }


def fit_target_prior(
    distance: Sequence[float],
    closer: Sequence[float],
    labels: Sequence[bool],
    held_out: Sequence[bool],
    model_log_odds: Sequence[float],
) -> TargetPrior:
    """Step 1 on every pair; step 2 (prior scale, model weight, bias) on the `held_out` pairs, whose
    `model_log_odds` must be given (other entries are ignored: NaN is fine)."""
    y = np.asarray(labels, dtype=np.float64)
    weights, bias = fit_logistic(distance_features(distance, closer), y)
    first = TargetPrior((weights[0], weights[1]), bias)
    keep = np.asarray(held_out, dtype=bool)
    if keep.sum() == 0 or len(set(y[keep].tolist())) < 2:
        return first
    prior = first.prior(np.asarray(distance)[keep], np.asarray(closer)[keep])
    m = np.asarray(model_log_odds, dtype=np.float64)[keep]
    (scale, weight), c = fit_logistic(np.stack([prior, m], axis=1), y[keep])
    if not all(math.isfinite(v) for v in (scale, weight, c)):
        return first
    return TargetPrior(first.prior_weights, first.prior_bias, scale, weight, c)
