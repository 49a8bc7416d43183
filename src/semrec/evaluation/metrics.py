"""Ranking metrics computed from ranked lists and target sets, one value per user."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

KS = (5, 10, 20, 50)


def hit_matrix(ranked: np.ndarray, targets: Sequence[np.ndarray]) -> np.ndarray:
    """(n_users, depth) bools: whether the item at each rank is one of the user's targets."""
    width = max((len(t) for t in targets), default=1) or 1
    padded = np.full((len(targets), width), -2, dtype=np.int64)  # never equal to an empty slot (-1)
    for row, target in enumerate(targets):
        padded[row, : len(target)] = target
    return (ranked[:, :, None] == padded[:, None, :]).any(axis=2)


def per_user_metrics(
    hits: np.ndarray, n_targets: np.ndarray, ks: Sequence[int] = KS
) -> dict[str, np.ndarray]:
    """HR, NDCG, MRR and recall at each K, one value per user.

    With one target per user (leave-one-out), NDCG@K = 1/log2(rank+1) when rank <= K, else 0; with
    several, DCG is divided by the ideal DCG of min(#targets, K) hits, and recall by #targets.
    """
    depth = hits.shape[1]
    discounts = 1.0 / np.log2(np.arange(2, depth + 2))  # rank r (from 1) -> 1/log2(r+1)
    reciprocal = 1.0 / np.arange(1, depth + 1)
    first_hit = np.where(hits.any(axis=1), hits.argmax(axis=1), depth)  # 0-based rank, depth = none
    out: dict[str, np.ndarray] = {}
    for k in ks:
        if k > depth:
            raise ValueError(f"K={k} is deeper than the {depth} ranked items")
        top = hits[:, :k]
        ideal = np.cumsum(discounts[:k])[np.minimum(n_targets, k) - 1]
        out[f"hr@{k}"] = np.asarray(top.any(axis=1), dtype=np.float64)
        out[f"ndcg@{k}"] = np.asarray((top * discounts[:k]).sum(axis=1) / ideal)
        out[f"mrr@{k}"] = np.where(first_hit < k, reciprocal[np.minimum(first_hit, depth - 1)], 0.0)
        out[f"recall@{k}"] = top.sum(axis=1) / n_targets
    return out
