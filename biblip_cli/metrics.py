"""Metrics in plain numpy (no scikit-learn dependency), shared by evaluation and the validation of training.

Conventions match scikit-learn so numbers are comparable with published tables:
AUROC counts tied scores as half a win (Mann-Whitney U); AUPRC is average precision,
`sum_n (R_n - R_{n-1}) P_n` over distinct score thresholds (ties enter together, no interpolation).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def _clean(
    labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(labels, dtype=bool).ravel()
    s = np.asarray(scores, dtype=float).ravel()
    if y.shape != s.shape:
        raise ValueError(f"labels and scores differ in length ({y.size} vs {s.size})")
    keep = ~np.isnan(s)
    return y[keep], s[keep]


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks with ties given their average rank."""
    order = np.argsort(values, kind="mergesort")
    sorted_values = values[order]
    ranks = np.empty(values.size, dtype=float)
    start = 0
    n = values.size
    while start < n:
        end = start
        while end + 1 < n and sorted_values[end + 1] == sorted_values[start]:
            end += 1
        ranks[order[start : end + 1]] = (start + end) / 2.0 + 1.0
        start = end + 1
    return ranks


def auroc(labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray) -> float:
    """Area under the ROC curve (higher score = more likely positive); NaN if one class is absent.

    NaN scores are dropped before computing.
    """
    y, s = _clean(labels, scores)
    n_pos = int(y.sum())
    n_neg = int(y.size - n_pos)
    if n_pos == 0 or n_neg == 0:
        return math.nan
    ranks = _average_ranks(s)
    u = ranks[y].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def _pr_curve(
    labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray
) -> tuple[np.ndarray, np.ndarray, int]:
    """(true positives, pairs ranked) at each distinct score threshold, best first, and the positives."""
    y, s = _clean(labels, scores)
    order = np.argsort(-s, kind="mergesort")
    s_sorted, y_sorted = s[order], y[order]
    tp = np.cumsum(y_sorted)
    # last index of each block of tied scores: thresholds are distinct score values
    last = np.r_[np.nonzero(np.diff(s_sorted))[0], s_sorted.size - 1] if s_sorted.size else np.zeros(0, int)
    return tp[last].astype(float), (last + 1).astype(float), int(y.sum())


def average_precision(labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray) -> float:
    """AUPRC as average precision (scikit-learn's definition); NaN when there is no positive."""
    tp_at, ranked, n_pos = _pr_curve(labels, scores)
    if n_pos == 0:
        return math.nan
    precision, recall = tp_at / ranked, tp_at / n_pos
    recall_prev = np.r_[0.0, recall[:-1]]
    return float(np.sum((recall - recall_prev) * precision))


auprc = average_precision


def precision_at_recall(
    labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray, recall: float = 0.7
) -> float:
    """Precision at the highest threshold whose recall reaches `recall` (the CRISPRi benchmark's
    operating point is 70%); ties enter together. NaN when there is no positive."""
    tp_at, ranked, n_pos = _pr_curve(labels, scores)
    if n_pos == 0:
        return math.nan
    first = np.flatnonzero(tp_at >= recall * n_pos - 1e-9)[0]
    return float(tp_at[first] / ranked[first])


def top_k_recall(ranks: Sequence[int | None] | np.ndarray, k: int) -> float:
    """Share of cases whose true item has 1-based rank <= k (None/NaN = not ranked = miss)."""
    values = [math.inf if r is None or (isinstance(r, float) and math.isnan(r)) else float(r) for r in ranks]
    if not values:
        return math.nan
    return float(np.mean([v <= k for v in values]))


def rank_of(scores: Sequence[float] | np.ndarray, target_index: int) -> float:
    """1-based rank of one item among scores (higher = better), ties broken pessimistically.

    Pessimistic ties (the target ranks after every item with the same score) keep a constant-score
    method from looking good: a random tie-break would be fairer but noisy.
    """
    s = np.asarray(scores, dtype=float)
    s = np.where(np.isnan(s), -np.inf, s)
    target = s[target_index]
    return float(np.sum(s > target) + np.sum(s == target))


def top1_accuracy(groups: Sequence[tuple[Sequence[int], Sequence[float]]]) -> tuple[float, int]:
    """Per group (labels, scores): is the top-scored item a positive? Only groups with >= 1 positive count.

    Ties at the top count as a fraction (the share of positives among the tied top items), which
    is the expected accuracy of a random tie-break. Returns (accuracy, groups counted).
    """
    hits: list[float] = []
    for labels, scores in groups:
        y = np.asarray(labels, dtype=bool)
        if not y.any():
            continue
        s = np.asarray(scores, dtype=float)
        s = np.where(np.isnan(s), -np.inf, s)
        top = s == s.max()
        hits.append(float(y[top].mean()))
    return (float(np.mean(hits)) if hits else math.nan), len(hits)
