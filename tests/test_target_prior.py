"""The target-gene score: distance prior + model log-odds (engine/target_prior.py)."""

from __future__ import annotations

import numpy as np
import pytest

from biblip_cli.engine.target_prior import TargetPrior, fit_target_prior


def _pairs(seed: int = 0, n: int = 2000):
    rng = np.random.default_rng(seed)
    distance = rng.uniform(0, 1_000_000, n)
    closer = rng.integers(0, 30, n)
    model = rng.normal(0, 1, n)
    true = -2.0 * np.log10(distance + 1000) - 0.8 * np.log1p(closer) + 1.5 * model + 6.0
    labels = rng.random(n) < 1 / (1 + np.exp(-true))
    return distance, closer, model, labels


def test_fit_learns_the_direction_of_each_feature():
    distance, closer, model, labels = _pairs()
    held = np.arange(len(labels)) % 3 == 0
    model_seen = np.where(held, model, np.nan)  # only held-out pairs need model answers
    prior = fit_target_prior(distance, closer, labels, held, model_seen)
    assert prior.prior_weights[0] < 0 and prior.prior_weights[1] < 0  # farther / more genes between: less likely
    assert prior.model_weight > 0.5  # the model's answer carries signal here, so it gets weight
    near, far = prior.probability([5_000, 500_000], [0, 10], [0.0, 0.0])
    assert near > far


def test_without_held_out_pairs_the_model_gets_no_weight():
    distance, closer, model, labels = _pairs(1)
    prior = fit_target_prior(distance, closer, labels, np.zeros(len(labels), bool), model)
    assert prior.model_weight == 0.0 and prior.prior_scale == 1.0


def test_metadata_round_trip_and_feature_check():
    prior = TargetPrior((-1.3, -0.9), 5.4, 0.9, 0.2, -0.1)
    entry = prior.to_metadata(n_pairs=10)
    assert TargetPrior.from_metadata({"target_prior": entry}) == prior
    assert TargetPrior.from_metadata({}) is None
    with pytest.raises(ValueError):
        TargetPrior.from_metadata({"target_prior": {**entry, "features": ["distance"]}})
