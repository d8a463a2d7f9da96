"""`biblip target`'s score when the checkpoint has a trained regulates head (metadata `target_head`).

The Q-former reads the element (DNA where known, its chromatin activity as its own token) and the
candidate genes (distance, genes in between, each gene's knowledge text); its regulates head gives a
logit with no LLM call. The score is a logistic model over that logit and the features every
enhancer-gene method starts from (Gschwind et al. 2025), so a reader can see what carries the score:

    with activity:    x = [log10(|d| + 1 kb), log1p(closer genes), log10 activity, log10 ABC-style, head]
    without activity: x = [log10(|d| + 1 kb), log1p(closer genes), head]
    score = sigmoid(w . x + b)

`scripts/fit_target_head.py` trains the head (the rest of the checkpoint frozen) on K562 CRISPRi
pairs of train-split genes and fits w, b on val-split genes, whose head logits are not memorised; the
test split and other cell types stay for evaluation. Checkpoints without it use `target_prior`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from biblip_cli.features.activity import abc_style, activity_value, log_score
from biblip_cli.records import ElementActivity

WITH_ACTIVITY = (
    "log10_distance_plus_1kb",
    "log1p_closer_genes",
    "log10_activity",
    "log10_abc_style",
    "head_logit",
)
WITHOUT_ACTIVITY = ("log10_distance_plus_1kb", "log1p_closer_genes", "head_logit")


def pair_features(
    distance: Sequence[float],
    closer: Sequence[float],
    activities: Sequence[ElementActivity | None],
    head: Sequence[float] | None,
    with_activity: bool,
) -> np.ndarray:
    """(n, k) features in WITH_ACTIVITY / WITHOUT_ACTIVITY order (`head` None: that column left out)."""
    rows = []
    for d, c, a, h in zip(
        distance, closer, activities, head if head is not None else [None] * len(distance), strict=True
    ):
        row = [math.log10(abs(d) + 1000.0), math.log1p(c)]
        if with_activity:
            row += [log_score(activity_value(a)), log_score(abc_style(a, d))]
        if h is not None:
            row.append(float(h))
        rows.append(row)
    return np.asarray(rows, dtype=np.float64).reshape(len(rows), -1)


@dataclass(frozen=True)
class Logistic:
    weights: tuple[float, ...]
    bias: float

    def log_odds(self, x: np.ndarray) -> np.ndarray:
        return x @ np.asarray(self.weights) + self.bias


@dataclass(frozen=True)
class TargetHead:
    with_activity: Logistic
    without_activity: Logistic

    def log_odds(
        self,
        distance: Sequence[float],
        closer: Sequence[float],
        activities: Sequence[ElementActivity | None],
        head: Sequence[float],
    ) -> np.ndarray:
        """Per pair: the with-activity model where the element's activity is measured, else the other."""
        measured = np.array([a is not None and a.measured for a in activities], dtype=bool)
        out = np.zeros(len(measured))
        for flag, model in ((True, self.with_activity), (False, self.without_activity)):
            idx = np.flatnonzero(measured == flag)
            if len(idx):
                x = pair_features(
                    [distance[i] for i in idx], [closer[i] for i in idx], [activities[i] for i in idx],
                    [head[i] for i in idx], with_activity=flag,
                )  # fmt: skip
                out[idx] = model.log_odds(x)
        return out

    def probability(self, *args: Any) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-self.log_odds(*args)))

    @classmethod
    def without_head(cls, metadata: dict[str, Any]) -> TargetHead | None:
        """The same logistic score fitted without the head's logit (`target_head.no_head`): the
        ablation that shows what the model adds; `log_odds` then ignores its `head` argument."""
        entry = (metadata.get("target_head") or {}).get("no_head")
        if not entry:
            return None
        parts = [Logistic(tuple(float(v) for v in entry[k]["weights"]) + (0.0,), float(entry[k]["bias"]))
                 for k in ("with_activity", "without_activity")]  # fmt: skip
        return cls(*parts)

    @classmethod
    def from_metadata(cls, metadata: dict[str, Any]) -> TargetHead | None:
        entry = metadata.get("target_head")
        if not entry:
            return None
        parts = []
        for key, names in (("with_activity", WITH_ACTIVITY), ("without_activity", WITHOUT_ACTIVITY)):
            part = entry[key]
            if tuple(part["features"]) != names:
                raise ValueError(f"target_head {key} features {part['features']} != {names}")
            parts.append(Logistic(tuple(float(v) for v in part["weights"]), float(part["bias"])))
        return cls(*parts)

    def to_metadata(self, **about: Any) -> dict[str, Any]:
        return {
            "with_activity": {"features": list(WITH_ACTIVITY), "weights": list(self.with_activity.weights),
                              "bias": self.with_activity.bias},
            "without_activity": {"features": list(WITHOUT_ACTIVITY), "weights": list(self.without_activity.weights),
                                 "bias": self.without_activity.bias},
            **about,
        }  # fmt: skip
