"""Metrics against values computed by hand (and scikit-learn's conventions)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from biblip_cli.metrics import auroc, average_precision, rank_of, top1_accuracy, top_k_recall


def test_auroc_perfect_and_reversed() -> None:
    assert auroc([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]) == 1.0
    assert auroc([0, 0, 1, 1], [0.9, 0.8, 0.2, 0.1]) == 0.0


def test_auroc_with_ties_counts_half() -> None:
    # positives 0.8, 0.4; negatives 0.4, 0.1. Pairs: (0.8>0.4) 1, (0.8>0.1) 1, (0.4=0.4) 0.5, (0.4>0.1) 1
    assert auroc([1, 1, 0, 0], [0.8, 0.4, 0.4, 0.1]) == pytest.approx(3.5 / 4)
    # a constant score is exactly chance
    assert auroc([1, 0, 1, 0, 0], [3, 3, 3, 3, 3]) == 0.5


def test_auroc_one_class_is_nan_and_nan_scores_dropped() -> None:
    assert math.isnan(auroc([1, 1], [0.2, 0.3]))
    assert auroc([1, 0, 1], [0.9, 0.1, float("nan")]) == 1.0


def test_average_precision_hand_computed() -> None:
    # ranked: 0.9(+), 0.8(-), 0.7(+), 0.1(-): precision at the positives 1/1 and 2/3 -> (1 + 2/3) / 2
    assert average_precision([1, 0, 1, 0], [0.9, 0.8, 0.7, 0.1]) == pytest.approx((1 + 2 / 3) / 2)
    # scikit-learn's example: y=[0,0,1,1], s=[0.1,0.4,0.35,0.8] -> 0.8333
    assert average_precision([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.8333333)


def test_average_precision_ties_enter_together() -> None:
    # all tied: one threshold, precision = prevalence
    assert average_precision([1, 0, 0, 0], [0.5, 0.5, 0.5, 0.5]) == pytest.approx(0.25)
    # tie between a positive and a negative at the top: precision 1/2 at recall 1/2, then 2/3 at recall 1
    assert average_precision([1, 0, 1], [0.9, 0.9, 0.5]) == pytest.approx(0.5 * 0.5 + 0.5 * 2 / 3)
    assert math.isnan(average_precision([0, 0], [0.1, 0.2]))


def test_top_k_recall_and_rank_of() -> None:
    ranks = [1, 3, 7, None, 12]
    assert top_k_recall(ranks, 1) == pytest.approx(0.2)
    assert top_k_recall(ranks, 5) == pytest.approx(0.4)
    assert top_k_recall(ranks, 10) == pytest.approx(0.6)
    assert rank_of(np.array([0.1, 0.9, 0.5]), 2) == 2
    # ties are pessimistic: the target ranks after every equal score
    assert rank_of(np.array([0.5, 0.5, 0.5]), 0) == 3


def test_top1_accuracy_per_group() -> None:
    groups = [
        ([1, 0, 0], [0.9, 0.1, 0.2]),  # hit
        ([0, 1, 0], [0.9, 0.1, 0.2]),  # miss
        ([0, 0], [0.5, 0.4]),  # no positive: not counted
        ([1, 0], [0.5, 0.5]),  # tie at the top: half
    ]
    accuracy, counted = top1_accuracy(groups)
    assert counted == 3
    assert accuracy == pytest.approx(1.5 / 3)
