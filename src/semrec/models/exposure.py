"""Exposure-aware re-ranking: a calibrated boost of under-exposed products.

A list's relevance is scaled to 0..1 (the best candidate 1, the worst 0); each candidate then loses
``boost`` times its popularity on the same 0..1 scale (log of its event count over the log of the
most popular product's). ``boost`` 0 changes nothing; at 0.1 a product of median popularity can
pass a bestseller whose relevance is a few hundredths higher. The server (re-ranking its shortlist)
and offline evaluation (:class:`ExposureReranked`) use these same two functions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

DEPTH = 100  # candidates a list is re-ranked from, offline and in the server


def popularity_scale(counts: np.ndarray, most: float | None = None) -> np.ndarray:
    """log(1 + count) / log(1 + the largest count): 0 for a product nobody touched, 1 for the most
    popular (``most``: that largest count, when ``counts`` are only some of the catalog's)."""
    top = float(np.max(counts)) if most is None and len(counts) else float(most or 0.0)
    if top <= 0:
        return np.zeros(len(counts))
    return np.log1p(np.maximum(counts, 0.0)) / np.log1p(top)


def unit_relevance(scores: np.ndarray) -> np.ndarray:
    """Scores of one list on 0..1 (the best 1, the worst 0; NaN, an unscored candidate, counts as
    the worst); all equal: all 1."""
    filled = np.where(np.isnan(scores), np.nanmin(scores) if np.isfinite(scores).any() else 0.0, scores)
    spread = float(filled.max() - filled.min()) if len(filled) else 0.0
    return (filled - filled.min()) / spread if spread > 0 else np.ones(len(filled))


def exposure_adjusted(relevance: np.ndarray, popularity: np.ndarray, boost: float) -> np.ndarray:
    """Relevance less ``boost`` times popularity (both on 0..1)."""
    return relevance - boost * popularity if boost > 0 else relevance


class ExposureReranked:
    """A recommender's lists re-ranked as the server re-ranks them with ``exposure_boost``: its
    ``depth`` best candidates (scored by its last stage), relevance scaled to 0..1, less ``boost``
    times popularity. Offline only; the wrapped model is not changed."""

    def __init__(self, model: Any, counts: np.ndarray, boost: float, depth: int = DEPTH) -> None:
        self.model = model
        self.counts = counts
        self.boost = boost
        self.depth = depth
        self.popularity = popularity_scale(counts.astype(np.float64))

    def candidates(
        self, histories: Sequence[np.ndarray], exclude: Sequence[np.ndarray] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(items, scores), each (shoppers, depth), best first by the model."""
        depth = min(self.depth, len(self.counts))
        if hasattr(self.model, "scored_lists"):
            items, scores = self.model.scored_lists(histories, depth, exclude)
            return np.asarray(items), np.asarray(scores, dtype=np.float64)
        from semrec.models.base import top_k

        full = self.model.score(histories)
        items = top_k(full, depth, exclude)
        return items, np.take_along_axis(full, np.maximum(items, 0), axis=1).astype(np.float64)

    def rerank(self, items: np.ndarray, scores: np.ndarray, k: int) -> np.ndarray:
        """Each row's ``k`` best by adjusted relevance, as :func:`unit_relevance` and
        :func:`exposure_adjusted` make it for one list (-1 pads stay last)."""
        valid = items >= 0
        known = np.where(valid & ~np.isnan(scores), scores, np.nan)
        with np.errstate(all="ignore"):
            low = np.nan_to_num(np.nanmin(np.where(np.isnan(known), np.inf, known), axis=1, keepdims=True))
            high = np.nan_to_num(np.nanmax(np.where(np.isnan(known), -np.inf, known), axis=1, keepdims=True))
        low, high = np.minimum(low, high), np.maximum(low, high)
        filled = np.where(np.isnan(known), low, known)
        spread = high - low
        relevance = np.where(spread > 0, (filled - low) / np.where(spread > 0, spread, 1.0), 1.0)
        adjusted = exposure_adjusted(relevance, self.popularity[np.maximum(items, 0)], self.boost)
        adjusted = np.where(valid, adjusted, -np.inf)
        order = np.argsort(-adjusted, axis=1, kind="stable")[:, :k]
        out = np.take_along_axis(items, order, axis=1)
        out[~np.take_along_axis(valid, order, axis=1)] = -1
        return out

    def recommend(
        self, histories: Sequence[np.ndarray], k: int = 10, exclude: Sequence[np.ndarray] | None = None
    ) -> np.ndarray:
        items, scores = self.candidates(histories, exclude)
        return self.rerank(items, scores, k)
