"""Judging the ranking stage on held-out shoppers: its NDCG@10, a Platt fit of its scores into
probabilities, and the report that says how well probabilities match what happened (log loss,
expected calibration error, reliability curve)."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np


def platt_fit(scores: np.ndarray, labels: np.ndarray, steps: int = 200) -> tuple[float, float]:
    """Logistic regression of ``labels`` on ``scores`` (Newton's method): p = sigmoid(a s + b)."""
    a, b = 1.0, 0.0
    x = np.stack([scores, np.ones_like(scores)], axis=1)
    w = np.array([a, b])
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-(x @ w)))
        gradient = x.T @ (p - labels)
        hessian = (x * (p * (1 - p))[:, None]).T @ x + 1e-9 * np.eye(2)
        step = np.linalg.solve(hessian, gradient)
        w = w - step
        if np.abs(step).max() < 1e-9:
            break
    return float(w[0]), float(w[1])


def calibration(probabilities: np.ndarray, labels: np.ndarray, bins: int = 15) -> dict[str, Any]:
    """Log loss, expected calibration error (equal-mass bins) and the reliability curve."""
    p = np.clip(probabilities.ravel(), 1e-7, 1 - 1e-7)
    y = labels.ravel().astype(np.float64)
    order = np.argsort(p, kind="stable")
    edges = np.linspace(0, len(p), bins + 1).astype(int)
    curve, ece = [], 0.0
    for lo, hi in itertools.pairwise(edges):
        if hi <= lo:
            continue
        chunk = order[lo:hi]
        predicted, observed = float(p[chunk].mean()), float(y[chunk].mean())
        ece += (hi - lo) / len(p) * abs(predicted - observed)
        curve.append({"predicted": predicted, "observed": observed, "pairs": int(hi - lo)})
    log_loss = float(-(y * np.log(p) + (1 - y) * np.log(1 - p)).mean())
    return {"log_loss": log_loss, "ece": float(ece), "pairs": len(p), "reliability": curve}


def holdout_ndcg(scores: np.ndarray, labels: np.ndarray, groups: np.ndarray, shoppers: int) -> float:
    """Mean NDCG@10 over ``shoppers`` cases (one target each) whose candidates are ``groups``
    consecutive rows, ordered by ``scores``; cases without a group, or without their target among
    the candidates, count 0."""
    total = 0.0
    for start, size in zip(np.r_[0, np.cumsum(groups)[:-1]], groups, strict=True):
        y = labels[start : start + size]
        if not y.any():
            continue
        order = np.argsort(-scores[start : start + size], kind="stable")
        position = int(np.flatnonzero(y[order])[0])
        total += 1.0 / np.log2(position + 2) if position < 10 else 0.0
    return total / max(shoppers, 1)
