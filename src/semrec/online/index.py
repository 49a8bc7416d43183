"""Nearest-neighbour search over item vectors: FAISS HNSW (approximate) or exact inner product.

Rows are append-only; a removed or replaced item keeps its row but is masked out of every answer,
which keeps HNSW (which cannot delete) correct.
"""

from __future__ import annotations

import threading
from typing import Literal

import faiss
import numpy as np

IndexKind = Literal["ivf-sq8", "hnsw", "exact"]
KINDS: tuple[str, ...] = ("ivf-sq8", "hnsw", "exact")


class VectorIndex:
    def __init__(
        self,
        dim: int,
        kind: IndexKind = "hnsw",
        m: int = 32,
        ef_construction: int = 100,
        ef_search: int = 128,
        nprobe: int = 32,
    ) -> None:
        self.dim = dim
        self.kind = kind
        self.nprobe = nprobe
        self._index: faiss.Index
        if kind == "ivf-sq8":
            self._index = faiss.IndexFlatIP(dim)  # replaced by the IVF index when first filled
        elif kind == "hnsw":
            index = faiss.IndexHNSWFlat(dim, m, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = ef_construction
            index.hnsw.efSearch = ef_search
            self._index = index
        elif kind == "exact":
            self._index = faiss.IndexFlatIP(dim)
        else:
            raise ValueError(f"index kind {kind!r} is not allowed; choose one of {list(KINDS)}")
        self._lock = threading.Lock()  # adds are serialised; searches read a consistent size

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def add(self, vectors: np.ndarray) -> np.ndarray:
        """Appends vectors; returns their row numbers."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1, self.dim)
        with self._lock:
            start = self._index.ntotal
            if not len(vectors):  # an empty catalog: the IVF lists are trained on the first items
                return np.arange(start, start)
            if self.kind == "ivf-sq8" and start == 0:
                self._index = self._trained_ivf(vectors)
            self._index.add(vectors)
        return np.arange(start, start + len(vectors))

    def _trained_ivf(self, vectors: np.ndarray) -> faiss.Index:
        """IVF lists (about 4 sqrt(n), at least 39 vectors each) over 8-bit scalar-quantised vectors:
        ~1 byte per dimension, trained on the first batch; later items join their nearest list."""
        lists = int(max(1, min(4 * np.sqrt(len(vectors)), len(vectors) // 39)))
        index = faiss.IndexIVFScalarQuantizer(
            faiss.IndexFlatIP(self.dim),
            self.dim,
            lists,
            faiss.ScalarQuantizer.QT_8bit,
            faiss.METRIC_INNER_PRODUCT,
        )
        sample = (
            vectors
            if len(vectors) <= 200_000
            else vectors[np.random.default_rng(0).choice(len(vectors), 200_000, replace=False)]
        )
        index.train(sample)
        index.nprobe = min(self.nprobe, lists)
        return index

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, rows) of the ``k`` largest inner products per query; rows -1 pad short answers."""
        queries = np.ascontiguousarray(queries, dtype=np.float32).reshape(-1, self.dim)
        k = max(1, min(k, len(self)))
        scores, rows = self._index.search(queries, k)
        return scores, rows

    def memory_bytes(self) -> int:
        """Serialized size of the index (vectors and graph)."""
        return int(faiss.serialize_index(self._index).nbytes)
