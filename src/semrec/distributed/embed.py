"""The catalog's text vectors through Ray Data: the texts as a dataset, encoded by a pool of actors
(each loads the encoder once, then takes batch after batch, on whichever node Ray places it)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from semrec.distributed.cluster import ray_module


class EncodeBatches:
    """A Ray Data actor: loads the encoder once, then turns batches of texts into vectors."""

    def __init__(self, reference: str | None, max_length: int, batch_size: int, threads: int) -> None:
        import torch

        from semrec.encoders.factory import load_encoder

        torch.set_num_threads(threads)
        self.encoder = load_encoder(reference, max_length=max_length, batch_size=batch_size, device="cpu")

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        vectors = self.encoder.encode([str(t) for t in batch["text"]])
        return {"row": batch["row"], "vector": vectors.astype(np.float32)}


def embed_on_ray(
    texts: Sequence[str],
    reference: str | Path | None = None,
    workers: int = 2,
    max_length: int = 64,
    batch_size: int = 64,
    threads_per_worker: int = 1,
) -> tuple[np.ndarray, dict[str, Any]]:
    """(len(texts), dim) float32 unit vectors in the texts' order, and how the run went (workers,
    seconds, texts per second). Ray must be initialised (:func:`semrec.distributed.cluster.connect`)."""
    ray_module()  # a clear error without Ray
    import ray.data

    started = time.perf_counter()
    dataset = ray.data.from_items([{"row": i, "text": t} for i, t in enumerate(texts)])
    encoded = dataset.map_batches(
        EncodeBatches,
        fn_constructor_kwargs={
            "reference": None if reference is None else str(reference),
            "max_length": max_length,
            "batch_size": batch_size,
            "threads": threads_per_worker,
        },
        batch_size=batch_size * 4,
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=workers),
        num_cpus=threads_per_worker,
    )
    rows: list[np.ndarray] = []
    vectors: list[np.ndarray] = []
    for batch in encoded.iter_batches(batch_size=None, batch_format="numpy"):
        rows.append(np.asarray(batch["row"]))
        vectors.append(np.asarray(batch["vector"]))
    order = np.argsort(np.concatenate(rows)) if rows else np.zeros(0, dtype=np.int64)
    matrix = np.concatenate(vectors)[order] if vectors else np.zeros((0, 0), dtype=np.float32)
    seconds = time.perf_counter() - started
    report = {"workers": workers, "texts": len(texts), "seconds": round(seconds, 2),
              "texts_per_s": round(len(texts) / max(seconds, 1e-9), 1)}  # fmt: skip
    return matrix, report
