"""Item-item collaborative filtering: co-occurrence cosine, recent history items weighted more."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Self

import numpy as np
import scipy.sparse as sp

from semrec.models.base import Recommender, TrainingData, recency_weights
from semrec.models.settings import setting


class ItemKNNRecommender(Recommender):
    """sim(i, j) = co(i, j) / (sqrt(n_i * n_j) + shrink), over users who have both in training.

    A shopper's score for j is the sum over history items h of weight(h) * sim(h, j), the weight
    falling by ``decay`` per step back in time. Each item keeps its ``neighbors`` best neighbours.
    """

    name = "itemknn"

    # defaults chosen on amazon-beauty's validation split
    @dataclass(frozen=True)
    class Config:
        neighbors: int = setting(
            200,
            "Neighbours kept per item (1 or more): each item keeps only its N most similar items; "
            "the similarity to any other item counts as 0.",
        )
        decay: float = setting(
            0.5,
            "Recency weight per step back in the shopper's history (0 to 1): the most recent item "
            "weighs 1, the one before it decay, then decay^2, ... (0: only the last item counts, "
            "1: every item alike).",
        )
        shrink: float = setting(
            50.0,
            "Added to the denominator of sim(i, j) = co(i, j) / (sqrt(n_i * n_j) + shrink), where "
            "co counts the shoppers with both items and n_i those with item i: damps similarities "
            "that few shoppers support (0: plain cosine).",
        )

    config: Config

    def fit(self, data: TrainingData) -> Self:
        n_users, n_items = len(data.sequences), data.n_items
        rows = np.repeat(np.arange(n_users), [len(s) for s in data.sequences])
        cols = np.concatenate(data.sequences) if n_users else np.zeros(0, dtype=np.int64)
        users = sp.csr_matrix((np.ones(len(cols), dtype=np.float32), (rows, cols)), shape=(n_users, n_items))
        users.data[:] = 1.0  # one shopper counts once per pair, however often they bought an item
        co = (users.T @ users).tocsr()
        co.setdiag(0)
        co.eliminate_zeros()
        norms = np.sqrt(np.asarray(users.sum(axis=0)).ravel())
        co = co.tocoo()
        values = co.data / (norms[co.row] * norms[co.col] + self.config.shrink)
        sim = sp.csr_matrix((values.astype(np.float32), (co.row, co.col)), shape=(n_items, n_items))
        self.similarity = _keep_top(sim, self.config.neighbors)
        self.n_items = n_items
        return self

    def score(self, histories: Sequence[np.ndarray]) -> np.ndarray:
        rows = np.repeat(np.arange(len(histories)), [len(h) for h in histories])
        cols = np.concatenate([np.asarray(h, dtype=np.int64) for h in histories]) if histories else rows
        weights = np.concatenate([recency_weights(len(h), self.config.decay) for h in histories] or [rows])
        query = sp.csr_matrix(
            (weights.astype(np.float32), (rows, cols)), shape=(len(histories), self.n_items)
        )  # (batch, n_items); repeated items add up
        return np.asarray((query @ self.similarity).toarray(), dtype=np.float32)

    def score_items(self, history: np.ndarray, items: np.ndarray) -> np.ndarray:
        """``score([history])[0][items]`` without building the full row: what a server needs for a
        short candidate list in a large catalog. -1 in either stands for an item added after training,
        which co-occurs with nothing (in the history it still counts as a step back in time)."""
        history = np.asarray(history, dtype=np.int64)
        steps = recency_weights(len(history), self.config.decay)[history >= 0]
        history = history[history >= 0]
        items = np.asarray(items, dtype=np.int64)
        out = np.zeros(len(items), dtype=np.float32)
        known = items >= 0
        if not len(history) or not known.any():
            return out
        candidates = items[known]
        sim = self.similarity
        starts, ends = sim.indptr[history], sim.indptr[history + 1]
        lengths = ends - starts
        # positions of every stored neighbour of every history item, in one gather
        entries = np.repeat(starts - np.cumsum(lengths) + lengths, lengths) + np.arange(lengths.sum())
        weights = np.repeat(steps, lengths)
        slot = _slots(self.n_items)
        slot[candidates] = np.arange(len(candidates), dtype=np.int32)
        try:
            where = slot[candidates]  # a repeated candidate shares the slot of its last copy
            at = slot[sim.indices[entries]]
        finally:
            slot[candidates] = -1
        hit = at >= 0
        values = sim.data[entries][hit] * weights[hit]
        out[known] = np.bincount(at[hit], weights=values, minlength=len(candidates))[where]
        return out

    def save_state(self, directory: Path) -> None:
        sp.save_npz(directory / "similarity.npz", self.similarity)

    def load_state(self, directory: Path) -> None:
        self.similarity = sp.load_npz(directory / "similarity.npz").tocsr()
        self.n_items = self.similarity.shape[0]


_scratch = threading.local()


def _slots(n: int) -> np.ndarray:
    """This thread's int32 array of -1 over ``n`` items: a candidate's position is written in, read
    back for every neighbour in one gather, and reset, so nothing proportional to the catalog is
    allocated or cleared per call."""
    slots: np.ndarray | None = getattr(_scratch, "slots", None)
    if slots is None or len(slots) < n:
        slots = np.full(n, -1, dtype=np.int32)
        _scratch.slots = slots
    return slots


def _keep_top(matrix: sp.csr_matrix, k: int) -> sp.csr_matrix:
    """Keeps the ``k`` largest entries of each row."""
    indptr, indices, data = matrix.indptr, matrix.indices, matrix.data
    keep = np.zeros(len(data), dtype=bool)
    for row in range(matrix.shape[0]):
        start, end = indptr[row], indptr[row + 1]
        if end - start <= k:
            keep[start:end] = True
        else:
            best = np.argpartition(-data[start:end], k - 1)[:k]
            keep[start + best] = True
    row_ids = np.repeat(np.arange(matrix.shape[0]), np.diff(indptr))
    return sp.csr_matrix((data[keep], (row_ids[keep], indices[keep])), shape=matrix.shape, dtype=np.float32)
