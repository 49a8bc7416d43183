"""Zero-shot text recommender: a pretrained encoder embeds item text, a shopper is their recent items."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Self

import numpy as np

from semrec.data.text import catalog_texts
from semrec.encoders.factory import load_encoder
from semrec.encoders.transformer import encode_cached
from semrec.models.base import Recommender, TrainingData, recency_profiles


class TextZeroShotRecommender(Recommender):
    """Cosine between item text vectors and the recency-weighted mean of the history's vectors.

    No behaviour is learned: this is the "before fine-tuning" reference. A shopper with no history
    gets the training popularity order.
    """

    name = "text-zeroshot"

    @dataclass(frozen=True)
    class Config:
        encoder: str = "minilm"  # 'minilm' (bundled), a local Hugging Face folder, or an exported ONNX one
        layers: int = 0  # keep only the encoder's first N transformer layers (0: all)
        decay: float = 0.3  # chosen on amazon-beauty's validation split
        max_length: int = 64
        batch_size: int = 64
        device: str = "auto"

    config: Config

    def fit(self, data: TrainingData) -> Self:
        encoder = load_encoder(
            self.config.encoder,
            max_length=self.config.max_length,
            batch_size=self.config.batch_size,
            device=self.config.device,
            layers=self.config.layers or None,
        )
        texts = catalog_texts(data.items)
        self.item_vectors = encode_cached(encoder, texts, progress="embedding items")  # (n_items, dim)
        counts = data.item_counts()
        self.fallback = (counts / max(counts.max(), 1.0)).astype(np.float32)
        return self

    def user_vectors(self, histories: Sequence[np.ndarray]) -> np.ndarray:
        """(batch, dim) unit vectors; zero for an empty history."""
        return recency_profiles(histories, self.item_vectors, self.config.decay)

    def score(self, histories: Sequence[np.ndarray]) -> np.ndarray:
        scores = self.user_vectors(histories) @ self.item_vectors.T  # (batch, n_items)
        empty = np.array([len(h) == 0 for h in histories], dtype=bool)
        scores[empty] = self.fallback
        return scores

    def save_state(self, directory: Path) -> None:
        np.save(directory / "item_vectors.npy", self.item_vectors)
        np.save(directory / "popularity.npy", self.fallback)

    def load_state(self, directory: Path) -> None:
        self.item_vectors = np.load(directory / "item_vectors.npy")
        self.fallback = np.load(directory / "popularity.npy")
