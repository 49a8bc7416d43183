"""Most-popular items: the non-personal baseline every model must beat."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Self

import numpy as np

from semrec.models.base import Recommender, TrainingData


class PopularityRecommender(Recommender):
    """Scores each item by how often it occurs in the training sequences."""

    name = "popularity"

    def fit(self, data: TrainingData) -> Self:
        self.counts = data.item_counts().astype(np.float32)
        return self

    def score(self, histories: Sequence[np.ndarray]) -> np.ndarray:
        return np.tile(self.counts, (len(histories), 1))

    def save_state(self, directory: Path) -> None:
        np.save(directory / "train_counts.npy", self.counts)

    def load_state(self, directory: Path) -> None:
        self.counts = np.load(directory / "train_counts.npy").astype(np.float32)
