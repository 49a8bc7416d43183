"""A transform of a catalog's text vectors, fitted on the catalog's text only."""

from __future__ import annotations

import numpy as np


def whiten(vectors: np.ndarray, components: int) -> np.ndarray:
    """PCA whitening of the catalog's text vectors, keeping ``components`` dimensions.

    Sentence embeddings crowd into a narrow cone; whitening spreads them out (and fewer dimensions make
    the adapter cheaper to train). Uses catalog text only, never behaviour.
    """
    if components <= 0 or components >= vectors.shape[1]:
        return vectors
    centered = vectors.astype(np.float64) - vectors.mean(0)
    _, singular, basis = np.linalg.svd(centered, full_matrices=False)
    scale = singular[:components] / np.sqrt(max(len(vectors) - 1, 1))
    whitened = centered @ basis[:components].T / np.maximum(scale, 1e-8)  # unit variance per dimension
    return (whitened / np.sqrt(components)).astype(np.float32)  # ~unit norm, like the raw vectors
