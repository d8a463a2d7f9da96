"""Element activity: what ABC (activity x contact) and ENCODE-rE2G are built from, as model input.

- `activity_value`: ABC's activity, the geometric mean of the accessibility mark (DNase, else ATAC)
  and H3K27ac; one mark alone when only one is measured.
- `contact`: ABC's power-law contact estimate, `(max(d, 5 kb) / 5 kb) ** -0.87` (Fulco 2019's fit
  of Hi-C contact against distance; the 5 kb floor keeps promoter-proximal elements finite).
- `abc_style`: activity x contact. The real ABC score also divides by the sum over *all* elements near
  the gene; benchmark files list only the tested elements, and there the division hurts (K562 training
  pairs: AUPRC 0.50 unnormalised, 0.14 normalised over each gene's tested elements), so the
  transparent baseline is the product; `normalise_abc` gives the ABC division for complete tables.
- `activity_features`: the element's activity token (ACTIVITY_DIM floats; the checkpoint depends on
  the layout): per mark log1p(RPM) / 5 and a measured flag, log10 activity, log10 ABC-style score for
  the asked-about gene.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from biblip_cli.features.inputs import ACTIVITY_DIM
from biblip_cli.records import ElementActivity

CONTACT_GAMMA = 0.87
CONTACT_FLOOR_BP = 5_000
LOG_FLOOR = 1e-4  # log10 of an activity / ABC score of 0


def activity_value(activity: ElementActivity | None) -> float | None:
    """Geometric mean of accessibility (DNase, else ATAC) and H3K27ac; None when nothing is measured."""
    if activity is None or not activity.measured:
        return None
    access = activity.dhs if activity.dhs is not None else activity.atac
    marks = [max(v, 0.0) for v in (access, activity.h3k27ac) if v is not None]
    return math.prod(marks) ** (1.0 / len(marks))


def contact(distance: float) -> float:
    d = max(abs(float(distance)), CONTACT_FLOOR_BP)
    return (d / CONTACT_FLOOR_BP) ** -CONTACT_GAMMA


def abc_style(activity: ElementActivity | None, distance: float) -> float | None:
    a = activity_value(activity)
    return None if a is None else a * contact(distance)


def log_score(value: float | None) -> float:
    return math.log10(max(value or 0.0, 0.0) + LOG_FLOOR)


def normalise_abc(scores: Sequence[float], genes: Sequence[str]) -> np.ndarray:
    """ABC's normalisation: each score over the sum of the scores of the same gene (all elements given)."""
    s = np.asarray(scores, dtype=np.float64)
    totals: dict[str, float] = {}
    for g, v in zip(genes, s, strict=True):
        totals[g] = totals.get(g, 0.0) + v
    return np.array([v / totals[g] if totals[g] > 0 else 0.0 for g, v in zip(genes, s, strict=True)])


def activity_features(activity: ElementActivity | None, distance: float | None) -> np.ndarray:
    """The activity token's ACTIVITY_DIM floats (zeros when nothing is measured; the mask says so)."""
    out = np.zeros(ACTIVITY_DIM, np.float32)
    if activity is None or not activity.measured:
        return out
    for i, value in enumerate((activity.dhs, activity.h3k27ac, activity.atac)):
        if value is not None:
            out[2 * i] = math.log1p(max(value, 0.0)) / 5.0
            out[2 * i + 1] = 1.0
    out[6] = log_score(activity_value(activity)) / 4.0
    out[7] = log_score(abc_style(activity, distance)) / 4.0 if distance is not None else 0.0
    return out
