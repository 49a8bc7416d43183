"""Zero-shot text recommender: a pretrained encoder embeds item text, a shopper is their recent items."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Self

import numpy as np

from semrec.data.text import catalog_texts
from semrec.encoders.batching import encode_cached, log_backend
from semrec.encoders.factory import load_encoder
from semrec.models.base import Recommender, TrainingData, recency_profiles
from semrec.models.settings import setting


class TextZeroShotRecommender(Recommender):
    """Cosine between item text vectors and the recency-weighted mean of the history's vectors.

    No behaviour is learned: this is the "before fine-tuning" reference. A shopper with no history
    gets the training popularity order.
    """

    name = "text-zeroshot"

    @dataclass(frozen=True)
    class Config:
        encoder: str = setting(
            "minilm",
            "Text encoder that embeds the item text: 'minilm' (the bundled all-MiniLM-L6-v2), the "
            "path of a local Hugging Face model folder, or a folder written by `semrec export` (ONNX).",
        )
        layers: int = setting(
            0,
            "Keep only the encoder's first N transformer layers, for faster embedding "
            "(0: all layers; an exported encoder keeps the layers it was exported with).",
        )
        decay: float = setting(  # default chosen on amazon-beauty's validation split
            0.3,
            "Recency weight per step back in the shopper's history when their items' text vectors are "
            "averaged into their profile (0 to 1): the most recent item weighs 1, the one before it "
            "decay, then decay^2, ... (0: only the last item counts, 1: every item alike).",
        )
        max_length: int = setting(
            64,
            "Tokens of each item text the encoder reads; longer texts are cut (an exported encoder "
            "uses the length it was exported with).",
        )
        batch_size: int = setting(64, "Item texts embedded at once.")
        device: str = setting(
            "auto",
            "Device that embeds the item text: auto (a CUDA GPU when there is one, else the CPU), "
            "cpu, cuda or cuda:N.",
        )
        precision: str = setting(
            "fp32",
            "Arithmetic of a PyTorch encoder: fp32, or bf16 (bfloat16 matrix products, fast on CPUs "
            "with AVX-512 BF16 or AMX; an exported ONNX encoder keeps its own).",
        )

    config: Config

    def fit(self, data: TrainingData) -> Self:
        encoder = load_encoder(
            self.config.encoder,
            max_length=self.config.max_length,
            batch_size=self.config.batch_size,
            device=self.config.device,
            layers=self.config.layers or None,
            precision=self.config.precision,
        )
        texts = catalog_texts(data.items)
        log_backend(encoder)
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
