"""The item index split over Ray actors: shard i holds every row r with r % shards == i in an index of
its own (exact, HNSW or IVF-SQ8, as one machine's), wherever Ray places it; a query goes to every
shard at once and their top k are merged into one (scatter-gather).

On exact search the answer equals one index's over all rows: the same rows in the same order (ties,
which exact scores make rare, break towards the lower row on both sides).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from semrec.distributed.cluster import ray_module
from semrec.online.index import IndexKind, VectorIndex


class IndexShard:
    """One shard: a :class:`VectorIndex` and the global row of each of its rows."""

    def __init__(self, dim: int, kind: IndexKind, params: dict[str, Any]) -> None:
        import faiss

        faiss.omp_set_num_threads(1)  # one shard, one core: shards are the parallelism
        self.index = VectorIndex(dim, kind, **params)
        self.rows = np.zeros(0, dtype=np.int64)

    def add(self, vectors: np.ndarray, rows: np.ndarray) -> int:
        self.index.add(vectors)
        self.rows = np.concatenate([self.rows, rows.astype(np.int64)])
        return len(self.rows)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        if len(self.rows) == 0:
            empty = np.zeros((len(queries), 0))
            return empty.astype(np.float32), empty.astype(np.int64)
        scores, local = self.index.search(queries, k)
        return scores, np.where(local >= 0, self.rows[np.maximum(local, 0)], -1)

    def memory_bytes(self) -> int:
        return self.index.memory_bytes() + int(self.rows.nbytes)


def merge_top_k(scores: list[np.ndarray], rows: list[np.ndarray], k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best (score, row) per query over the shards' answers: highest score first, the
    lower row first among equal scores; -1 rows pad short answers."""
    all_scores = np.concatenate(scores, axis=1).astype(np.float32)
    all_rows = np.concatenate(rows, axis=1).astype(np.int64)
    all_scores[all_rows < 0] = -np.inf
    order = np.lexsort((all_rows, -all_scores), axis=-1)[:, :k]
    best_scores = np.take_along_axis(all_scores, order, axis=1)
    best_rows = np.take_along_axis(all_rows, order, axis=1)
    best_rows[~np.isfinite(best_scores)] = -1
    return best_scores, best_rows


class ShardedIndex:
    """:class:`VectorIndex`'s interface (add, search, len, memory) over ``shards`` Ray actors."""

    def __init__(
        self,
        dim: int,
        shards: int,
        kind: IndexKind = "exact",
        cpus_per_shard: float = 1.0,
        timeout_s: float = 60.0,
        **params: Any,
    ) -> None:
        """``timeout_s``: how long an answer waits for every shard; a shard that does not answer
        in time raises (Ray's GetTimeoutError) rather than hanging the request."""
        if shards < 1:
            raise ValueError(f"shards must be at least 1, not {shards}")
        ray = ray_module()
        actor = ray.remote(IndexShard).options(num_cpus=cpus_per_shard)
        self.dim = dim
        self.kind = kind
        self._ray = ray
        self._shards = [actor.remote(dim, kind, params) for _ in range(shards)]
        self._size = 0
        self.timeout_s = timeout_s

    def __len__(self) -> int:
        return self._size

    @property
    def shards(self) -> int:
        return len(self._shards)

    def add(self, vectors: np.ndarray) -> np.ndarray:
        """Appends vectors; returns their (global) row numbers."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1, self.dim)
        rows = np.arange(self._size, self._size + len(vectors))
        pending = []
        for i, shard in enumerate(self._shards):
            mine = rows % len(self._shards) == i
            if mine.any():
                pending.append(shard.add.remote(vectors[mine], rows[mine]))
        self._ray.get(pending, timeout=self.timeout_s)
        self._size += len(vectors)
        return rows

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, rows) of the ``k`` largest inner products per query over every shard."""
        queries = np.ascontiguousarray(queries, dtype=np.float32).reshape(-1, self.dim)
        k = max(1, min(k, len(self)))
        answers = self._ray.get(
            [shard.search.remote(queries, k) for shard in self._shards], timeout=self.timeout_s
        )
        return merge_top_k([a[0] for a in answers], [a[1] for a in answers], k)

    def memory_bytes(self) -> int:
        """Bytes held by the shards together (their indexes and row maps)."""
        sizes = self._ray.get([shard.memory_bytes.remote() for shard in self._shards], timeout=self.timeout_s)
        return int(sum(sizes))

    def close(self) -> None:
        for shard in self._shards:
            self._ray.kill(shard)
        self._shards = []
