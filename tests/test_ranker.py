"""The ranking stage's calibration: Platt scaling and the calibration report."""

from __future__ import annotations

import numpy as np

from semrec.models.ranker import calibration, platt_fit


def test_platt_scaling_recovers_the_logistic_that_made_the_labels() -> None:
    rng = np.random.default_rng(0)
    scores = rng.normal(size=200_000)
    labels = (rng.random(len(scores)) < 1 / (1 + np.exp(-(2.0 * scores - 3.0)))).astype(float)
    a, b = platt_fit(scores, labels)
    assert abs(a - 2.0) < 0.05 and abs(b + 3.0) < 0.05


def test_calibration_tells_calibrated_from_overconfident_probabilities() -> None:
    rng = np.random.default_rng(1)
    p = rng.uniform(0.0, 0.2, size=100_000)
    labels = (rng.random(len(p)) < p).astype(float)
    honest, doubled = calibration(p, labels), calibration(np.minimum(2 * p, 1.0), labels)
    assert honest["ece"] < 0.005 < doubled["ece"]
    assert honest["log_loss"] < doubled["log_loss"]
    assert sum(point["pairs"] for point in honest["reliability"]) == len(p)
