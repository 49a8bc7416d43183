"""The recommender interface every model implements, and the shared top-k selection."""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd

# histories -> named (batch, n_items) score matrices that a model adds up with its weights
PartScores = Callable[[Sequence[np.ndarray]], dict[str, np.ndarray]]


@dataclass(frozen=True)
class TrainingData:
    """Everything a model may learn from: training sequences and the catalog (never evaluation targets)."""

    sequences: list[np.ndarray]  # per user, item indices oldest first
    items: pd.DataFrame  # the catalog; row position = item index
    # early stopping: scores a model on validation outside the model, so targets stay out of training
    validator: Callable[[Recommender], float] | None = None
    # validation NDCG@10 of many weighted sums of a model's score parts at once (see ``PartScores``)
    blend_validator: Callable[[PartScores, Sequence[Mapping[str, float]]], list[float]] | None = None
    # the offset of items with no training events, fitted on validation: (parts, blend weights,
    # cold mask, rule) -> (offset, cold targets), None when validation has too few (see
    # ``semrec.evaluation.evaluator.fit_cold_offset`` for the rules)
    cold_calibrator: (
        Callable[[PartScores, Mapping[str, float], np.ndarray, str], tuple[float, int] | None] | None
    ) = None
    # how well each blend orders new products among themselves on validation: (parts, blends, cold
    # mask) -> (NDCG@10 per blend, cases), None when validation has too few new-product targets
    # (``semrec.evaluation.evaluator.new_item_blend_ndcg``)
    new_item_blend_validator: (
        Callable[[PartScores, Sequence[Mapping[str, float]], np.ndarray], tuple[list[float], int] | None]
        | None
    ) = None
    # new products' weightings judged by the list that is shown: (parts, the blend's weights, new
    # products' weightings, cold mask) -> each weighting's validation NDCG@10 of all shoppers at its
    # equal-exposure offset, or None (``semrec.evaluation.exposure_choice.exposure_blend_ndcg``)
    exposure_blend_validator: (
        Callable[[PartScores, Mapping[str, float], Sequence[Mapping[str, float]], np.ndarray], Any] | None
    ) = None
    # fits a ranking stage over a model's top n candidates on validation: (model, n) -> (ranker, info)
    ranker_trainer: Callable[[Recommender, int], tuple[Any, dict[str, Any]]] | None = None
    checkpoint: Path | None = None  # where a trainable model keeps a resumable checkpoint

    @property
    def n_items(self) -> int:
        return len(self.items)

    def item_counts(self) -> np.ndarray:
        """How often each item occurs in the training sequences."""
        flat = np.concatenate(self.sequences) if self.sequences else np.zeros(0, dtype=np.int64)
        return np.bincount(flat, minlength=self.n_items).astype(np.float64)


def top_k(scores: np.ndarray, k: int, exclude: Sequence[np.ndarray] | None = None) -> np.ndarray:
    """Indices of the ``k`` best-scored items per row, best first, skipping ``exclude[row]``.

    Slots left when fewer than ``k`` items remain (or items scored -inf) hold -1.

    ``scores`` is (batch, n_items) and is modified in place (excluded items set to -inf). Ties are
    broken by the lower item index, so results never depend on where a target happens to sit.
    """
    batch, n_items = scores.shape
    if exclude is not None:
        rows = np.repeat(np.arange(batch), [len(e) for e in exclude])
        cols = np.concatenate([np.asarray(e, dtype=np.int64) for e in exclude]) if batch else rows
        scores[rows, cols] = -np.inf
    k = min(k, n_items)
    if k < n_items:
        candidates = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        kth = np.take_along_axis(scores, candidates, axis=1).min(axis=1, keepdims=True)
        # items tied with the k-th score: let the index rule decide which of them enter the list
        ties = scores == kth
        if (ties.sum(axis=1) > (np.take_along_axis(scores, candidates, axis=1) == kth).sum(axis=1)).any():
            candidates = _top_k_with_ties(scores, kth, k)
    else:
        candidates = np.broadcast_to(np.arange(n_items), (batch, n_items)).copy()
    candidates.sort(axis=1)  # ascending index, so the stable sort below breaks ties by index
    values = np.take_along_axis(scores, candidates, axis=1)
    order = np.argsort(-values, axis=1, kind="stable")
    ranked = np.take_along_axis(candidates, order, axis=1)
    # a catalog smaller than k plus the exclusions leaves slots with nothing to fill
    ranked[np.take_along_axis(values, order, axis=1) == -np.inf] = -1
    return ranked


def _top_k_with_ties(scores: np.ndarray, kth: np.ndarray, k: int) -> np.ndarray:
    out = np.empty((scores.shape[0], k), dtype=np.int64)
    for row in range(scores.shape[0]):
        above = np.flatnonzero(scores[row] > kth[row, 0])
        tied = np.flatnonzero(scores[row] == kth[row, 0])
        out[row] = np.concatenate([above, tied[: k - len(above)]])
    return out


class Recommender(ABC):
    """A model that scores every catalog item for a batch of shopper histories.

    Subclasses set ``name`` and ``Config`` (a dataclass of their settings, each with a default), and
    implement :meth:`fit` and :meth:`score`.
    """

    name: ClassVar[str]

    @dataclass(frozen=True)
    class Config:
        pass

    def __init__(self, config: Any = None) -> None:
        self.config = config if config is not None else self.Config()

    @abstractmethod
    def fit(self, data: TrainingData) -> Self:
        """Learns from the training data only. Returns self."""

    @abstractmethod
    def score(self, histories: Sequence[np.ndarray]) -> np.ndarray:
        """Scores all items for each history (item indices, oldest first).

        Returns:
            float32 array of shape (len(histories), n_items); higher is better.
        """

    def recommend(
        self, histories: Sequence[np.ndarray], k: int = 10, exclude: Sequence[np.ndarray] | None = None
    ) -> np.ndarray:
        """The ``k`` best items per history, best first, never one of ``exclude[row]``.

        Returns:
            int64 array of shape (len(histories), k) of item indices.
        """
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        return top_k(self.score(histories), k, exclude)

    def save_state(self, directory: Path) -> None:
        """Writes what was learned (arrays, weights) into ``directory``."""
        raise NotImplementedError(f"model {self.name!r} cannot be saved as artifacts")

    def load_state(self, directory: Path) -> None:
        """Restores what :meth:`save_state` wrote; the model is then ready to score."""
        raise NotImplementedError(f"model {self.name!r} cannot be loaded from artifacts")

    def training_summary(self) -> dict[str, Any]:
        """Epochs, best validation score and time of the last fit (empty for untrained models)."""
        return {}

    def settings(self) -> dict[str, Any]:
        return {"model": self.name, **dataclasses.asdict(self.config)}


def recency_weights(length: int, decay: float) -> np.ndarray:
    """Weight of each history position, the most recent item weighing 1 and older ones ``decay``^age."""
    return decay ** np.arange(length - 1, -1, -1, dtype=np.float64)


def recency_profiles(histories: Sequence[np.ndarray], vectors: np.ndarray, decay: float) -> np.ndarray:
    """(batch, dim) unit vectors: each history's :func:`recency_weights` mean of its rows of
    ``vectors``; zero for an empty history."""
    out = np.zeros((len(histories), vectors.shape[1]), dtype=np.float32)
    for row, history in enumerate(histories):
        if len(history):
            out[row] = recency_weights(len(history), decay).astype(np.float32) @ vectors[np.asarray(history)]
    return out / np.maximum(np.sqrt(np.einsum("ij,ij->i", out, out)), 1e-12)[:, None]
