"""Exposure-aware re-ranking: a calibrated boost of under-exposed products.

A list's relevance is scaled to 0..1 (the best candidate 1, the worst 0); each candidate then loses
``boost`` times its exposure on the same 0..1 scale: the log of how often it was shown in the lists
served so far over the log of the most shown product's (:class:`ExposureLedger`, halved every
``half_life`` lists so that old answers fade). Products every list shows step back for ones nearly as
relevant that few lists show. ``boost`` 0 changes nothing. The server (re-ranking its shortlist)
and offline evaluation (:class:`ExposureReranked`, shoppers served in batches in a fixed order) use
the same functions; offline, training popularity can stand in for exposure as a baseline.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

DEPTH = 100  # candidates a list is re-ranked from, offline and in the server


def log_scale(counts: np.ndarray, most: float) -> np.ndarray:
    """log(1 + count) / log(1 + most): 0 for none, 1 for the largest."""
    if most <= 0:
        return np.zeros(np.shape(counts))
    return np.log1p(np.maximum(counts, 0.0)) / np.log1p(most)


def popularity_scale(counts: np.ndarray, most: float | None = None) -> np.ndarray:
    """Training popularity on 0..1 (the baseline signal)."""
    return log_scale(counts, float(np.max(counts)) if most is None and len(counts) else float(most or 0.0))


def unit_relevance(scores: np.ndarray) -> np.ndarray:
    """Scores of one list on 0..1 (the best 1, the worst 0; NaN, an unscored candidate, counts as
    the worst); all equal: all 1."""
    filled = np.where(np.isnan(scores), np.nanmin(scores) if np.isfinite(scores).any() else 0.0, scores)
    spread = float(filled.max() - filled.min()) if len(filled) else 0.0
    return (filled - filled.min()) / spread if spread > 0 else np.ones(len(filled))


def exposure_adjusted(relevance: np.ndarray, exposure: np.ndarray, boost: float) -> np.ndarray:
    """Relevance less ``boost`` times exposure (both on 0..1)."""
    return relevance - boost * exposure if boost > 0 else relevance


class ExposureLedger:
    """How often each product was shown in the lists served so far (one slot, one count), halved
    every ``half_life`` lists. Thread-safe; one per server process."""

    def __init__(self, n_items: int, half_life: int = 50_000) -> None:
        self.shown = np.zeros(n_items)
        self.half_life = half_life
        self.lists = 0
        self._lock = threading.Lock()

    def scale(self, rows: np.ndarray) -> np.ndarray:
        """Exposure of ``rows`` on 0..1."""
        shown = self.shown
        inside = rows < len(shown)
        counts = np.where(inside, shown[np.where(inside, rows, 0)], 0.0)  # a product added since: none
        return log_scale(counts, float(shown.max()) if len(shown) else 0.0)

    def record(self, shown_rows: np.ndarray, lists: int = 1) -> None:
        rows = shown_rows[shown_rows >= 0]
        with self._lock:
            if len(rows) and rows.max() >= len(self.shown):
                self.shown = np.concatenate([self.shown, np.zeros(int(rows.max()) + 1 - len(self.shown))])
            self.shown += np.bincount(rows, minlength=len(self.shown))
            before, self.lists = self.lists, self.lists + lists
            if self.half_life > 0 and self.lists // self.half_life > before // self.half_life:
                self.shown *= 0.5


class ExposureReranked:
    """A recommender's lists re-ranked as the server re-ranks them with ``exposure_boost``: its
    ``depth`` best candidates (scored by its last stage), relevance scaled to 0..1, less ``boost``
    times exposure: ``signal`` "shown" (as served: the lists given so far, shoppers in batches of
    ``batch`` in the order asked) or "popularity" (training counts, a baseline). Offline only."""

    def __init__(
        self,
        model: Any,
        counts: np.ndarray,
        boost: float,
        depth: int = DEPTH,
        signal: Literal["shown", "popularity"] = "shown",
        batch: int = 256,
        half_life: int = 50_000,
    ) -> None:
        self.model = model
        self.counts = counts
        self.boost = boost
        self.depth = depth
        self.signal = signal
        self.batch = batch
        self.half_life = half_life
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
        """Each row's ``k`` best by adjusted relevance, row after row as if served in this order
        (-1 pads stay last)."""
        out = np.full((len(items), k), -1, dtype=np.int64)
        ledger = ExposureLedger(len(self.counts), self.half_life)
        for start in range(0, len(items), self.batch):
            part = slice(start, start + self.batch)
            exposure = (
                self.popularity[np.maximum(items[part], 0)]
                if self.signal == "popularity"
                else ledger.scale(np.maximum(items[part], 0))
            )
            out[part] = self._top(items[part], scores[part], exposure, k)
            ledger.record(out[part].ravel(), lists=len(out[part]))
        return out

    def _top(self, items: np.ndarray, scores: np.ndarray, exposure: np.ndarray, k: int) -> np.ndarray:
        """:func:`unit_relevance` and :func:`exposure_adjusted` for a batch of lists."""
        valid = items >= 0
        known = np.where(valid & ~np.isnan(scores), scores, np.nan)
        with np.errstate(all="ignore"):
            low = np.nan_to_num(np.nanmin(np.where(np.isnan(known), np.inf, known), axis=1, keepdims=True))
            high = np.nan_to_num(np.nanmax(np.where(np.isnan(known), -np.inf, known), axis=1, keepdims=True))
        low, high = np.minimum(low, high), np.maximum(low, high)
        filled = np.where(np.isnan(known), low, known)
        spread = high - low
        relevance = np.where(spread > 0, (filled - low) / np.where(spread > 0, spread, 1.0), 1.0)
        adjusted = np.where(valid, exposure_adjusted(relevance, exposure, self.boost), -np.inf)
        order = np.argsort(-adjusted, axis=1, kind="stable")[:, :k]
        out = np.take_along_axis(items, order, axis=1)
        out[~np.take_along_axis(valid, order, axis=1)] = -1
        return out

    def recommend(
        self, histories: Sequence[np.ndarray], k: int = 10, exclude: Sequence[np.ndarray] | None = None
    ) -> np.ndarray:
        items, scores = self.candidates(histories, exclude)
        return self.rerank(items, scores, k)
