"""The shopper tower at serving time: the trained sequence network, run by ONNX Runtime.

One request embeds one short history; PyTorch spends most of such a call in per-operator Python
overhead, ONNX Runtime runs the same graph in a fraction of the time. ``torch`` stays available as
the reference the ONNX graph is checked against.

The graph is traced for one history of the network's full length (attention reshapes are traced
with fixed sizes), so shorter histories are left-padded to it: padding is masked and positions count
from the first real item, so the result is the same as for the unpadded history.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

TowerBackend = Literal["onnx", "torch"]


class _LastHidden(torch.nn.Module):
    def __init__(self, net: Any) -> None:
        super().__init__()
        self.net = net

    def forward(self, items: torch.Tensor, padding: torch.Tensor) -> torch.Tensor:
        return self.net.encode_vectors(items, padding)[:, -1]


class ShopperTower:
    """``(batch, length, dim)`` left-padded history vectors + padding mask -> ``(batch, dim)`` queries."""

    def __init__(self, net: Any, backend: TowerBackend = "onnx", threads: int = 1) -> None:
        if backend not in ("onnx", "torch"):
            raise ValueError(f"tower backend {backend!r} is not allowed; choose onnx or torch")
        self.backend = backend
        self.module = _LastHidden(net).eval()
        self.length, self.dim = (int(n) for n in net.positions.weight.shape)
        self.session: Any = None
        if backend == "onnx":
            self.session = _onnx_session(self.module, self.length, self.dim, threads)

    def __call__(self, items: np.ndarray, padding: np.ndarray) -> np.ndarray:
        if items.shape[1] > self.length:
            items, padding = items[:, -self.length :], padding[:, -self.length :]
        if self.session is not None:
            out = np.zeros((len(items), self.dim), dtype=np.float32)
            full = np.zeros((1, self.length, self.dim), dtype=np.float32)
            mask = np.ones((1, self.length), dtype=bool)
            start = self.length - items.shape[1]
            for row in range(len(items)):
                full[0, start:], mask[0, start:] = items[row], padding[row]
                (out[row],) = self.session.run(None, {"items": full, "padding": mask})
            return out
        with torch.inference_mode():
            return self.module(torch.from_numpy(items), torch.from_numpy(padding)).float().numpy()


def _onnx_session(module: torch.nn.Module, length: int, dim: int, threads: int) -> Any:
    import onnxruntime as ort

    items = torch.zeros(1, length, dim)
    padding = torch.arange(length).unsqueeze(0) < length // 2
    folder = tempfile.TemporaryDirectory(prefix="semrec-tower-")
    graph = Path(folder.name) / "tower.onnx"
    # PyTorch's fused inference kernel for encoder layers has no ONNX form: trace the plain layers
    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        torch.onnx.export(
            module,
            (items, padding),
            str(graph),
            input_names=["items", "padding"],
            output_names=["query"],
            opset_version=17,
            dynamo=False,
        )
        model = graph.read_bytes()
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
        folder.cleanup()
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
