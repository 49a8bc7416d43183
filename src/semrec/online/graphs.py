"""The networks a server runs, as ONNX Runtime graphs: the shopper tower and the new products'
vectors. Nothing here imports torch; :mod:`semrec.online.tower` writes the graphs from a trained
network (at start, or once by `semrec export`, whose artifacts are then served without torch)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np

TowerBackend = Literal["onnx", "torch"]  # what runs the shopper tower: its graph, or the network


def session(graph: bytes | Path, threads: int = 1) -> Any:
    """An ONNX Runtime session of ``graph`` (its bytes or its file) on ``threads`` CPU threads."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    model = graph if isinstance(graph, bytes) else str(graph)
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


class GraphTower:
    """``(batch, length, dim)`` left-padded history vectors + padding mask -> ``(batch, dim)`` queries,
    by the tower's graph; a history longer than the network reads keeps its most recent ``length``."""

    backend = "onnx"

    def __init__(self, graph: bytes | Path, length: int, dim: int, threads: int = 1) -> None:
        self.length, self.dim = length, dim
        self.session = session(graph, threads)

    def __call__(self, items: np.ndarray, padding: np.ndarray) -> np.ndarray:
        if items.shape[1] > self.length:
            items, padding = items[:, -self.length :], padding[:, -self.length :]
        (out,) = self.session.run(None, {"items": items, "padding": padding})
        return np.asarray(out, dtype=np.float32)


class GraphNewItems:
    """``(n, text_dim)`` text vectors and each item's donors (``(n, k)`` catalog indices and weights)
    -> ``(n, dim)`` recommendation vectors of products the model never saw, by the item table's graph
    (:meth:`~semrec.models.sequence_net.ItemTable.cold_vectors`)."""

    def __init__(self, graph: bytes | Path, threads: int = 1) -> None:
        self.session = session(graph, threads)
        # a table that borrows no ID parts reads the text only
        self.inputs = {i.name for i in self.session.get_inputs()}

    def __call__(self, text: np.ndarray, rows: np.ndarray, weights: np.ndarray) -> np.ndarray:
        feed = {"text": text.astype(np.float32), "rows": rows.astype(np.int64)}
        feed["weights"] = weights.astype(np.float32)
        (out,) = self.session.run(None, {k: v for k, v in feed.items() if k in self.inputs})
        return np.asarray(out, dtype=np.float32)
