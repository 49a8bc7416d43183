"""The shopper tower at serving time: the trained sequence network, run by ONNX Runtime.

One request embeds one short history; PyTorch spends most of such a call in per-operator Python
overhead, ONNX Runtime runs the same graph in a fraction of the time. ``torch`` stays available as
the reference the ONNX graph is checked against. :func:`export_graphs` writes the tower's graph and
the new products' one into the artifacts, so a server can run them without torch
(:mod:`semrec.online.graphs`).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch

from semrec.models.exported import EXPORT_FOLDER, NEW_ITEMS_FILE, TOWER_FILE
from semrec.models.sequence_net import NetworkEnsemble
from semrec.online.graphs import GraphTower, TowerBackend


class _LastHidden(torch.nn.Module):
    """The network's forward pass up to the last position's hidden state, in plain tensor operations.

    ``nn.TransformerEncoderLayer`` traces to a graph with its sizes fixed at trace time; the same
    arithmetic spelled out here traces with the batch and history length left free, so a short
    history costs only its own length. The torch backend runs the network itself, and tests hold
    the two equal.
    """

    def __init__(self, net: Any) -> None:
        super().__init__()
        self.net = net

    def forward(self, items: torch.Tensor, padding: torch.Tensor) -> torch.Tensor:
        if not isinstance(self.net, NetworkEnsemble):
            return self._last_hidden(self.net, items, padding)
        members = self.net.nets  # an ensemble: the mean logit's query, as its encode_vectors
        parts = torch.split(items, self.net.widths, dim=-1)
        hidden = [self._last_hidden(m, part, padding) for m, part in zip(members, parts, strict=True)]
        return torch.cat(hidden, dim=-1) / len(members)

    def _last_hidden(self, net: Any, items: torch.Tensor, padding: torch.Tensor) -> torch.Tensor:
        length = items.shape[1]
        first = padding.long().sum(1, keepdim=True)
        column = torch.arange(length).unsqueeze(0)
        hidden = net.input_norm(items + net.positions((column - first).clamp(min=0)))
        future = column > column.transpose(0, 1)  # (query, key): key after query
        itself = column == column.transpose(0, 1)  # a position always sees itself
        blocked = (future.unsqueeze(0) | padding.unsqueeze(1)) & ~itself
        bias = torch.zeros(blocked.shape).masked_fill(blocked, float("-inf")).unsqueeze(1)
        *layers, last = net.blocks.layers
        for layer in layers:
            if layer.norm_first:
                hidden = hidden + self._attend(layer, layer.norm1(hidden), bias)
                hidden = hidden + self._feed_forward(layer, layer.norm2(hidden))
            else:
                hidden = layer.norm1(hidden + self._attend(layer, hidden, bias))
                hidden = layer.norm2(hidden + self._feed_forward(layer, hidden))
        # only the last position's output is read: in the last layer it alone asks (its keys and
        # values still come from every position), and only it goes through the feed-forward part
        bias = bias[:, :, -1:]
        if last.norm_first:
            normed = last.norm1(hidden)
            out = hidden[:, -1:] + self._attend(last, normed, bias, normed[:, -1:])
            out = out + self._feed_forward(last, last.norm2(out))
        else:
            out = last.norm1(hidden[:, -1:] + self._attend(last, hidden, bias, hidden[:, -1:]))
            out = last.norm2(out + self._feed_forward(last, out))
        return net.norm(out)[:, -1]

    def _attend(
        self, layer: Any, x: torch.Tensor, bias: torch.Tensor, asking: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Self-attention of ``layer`` over ``x``, for the positions ``asking`` (default: all)."""
        attention = layer.self_attn
        heads = attention.num_heads
        batch, length, dim = x.shape
        weight, offset = attention.in_proj_weight, attention.in_proj_bias
        if asking is None:
            q, k, v = torch.nn.functional.linear(x, weight, offset).chunk(3, -1)
        else:
            q = torch.nn.functional.linear(asking, weight[:dim], offset[:dim])
            k, v = torch.nn.functional.linear(x, weight[dim:], offset[dim:]).chunk(2, -1)
        asked = q.shape[1]
        q = q.reshape(batch, asked, heads, dim // heads).transpose(1, 2)
        k, v = (t.reshape(batch, length, heads, dim // heads).transpose(1, 2) for t in (k, v))
        weights = torch.softmax(q @ k.transpose(-1, -2) / (dim // heads) ** 0.5 + bias, dim=-1)
        mixed = (weights @ v).transpose(1, 2).reshape(batch, asked, dim)
        return cast(torch.Tensor, attention.out_proj(mixed))

    def _feed_forward(self, layer: Any, x: torch.Tensor) -> torch.Tensor:
        return cast(torch.Tensor, layer.linear2(layer.activation(layer.linear1(x))))


class _Reference(torch.nn.Module):
    def __init__(self, net: Any) -> None:
        super().__init__()
        self.net = net

    def forward(self, items: torch.Tensor, padding: torch.Tensor) -> torch.Tensor:
        return cast(torch.Tensor, self.net.encode_vectors(items, padding)[:, -1])


class _NewItems(torch.nn.Module):
    """The item table's vectors of products added after training, as one traceable function."""

    def __init__(self, table: Any) -> None:
        super().__init__()
        self.table = table
        # an ensemble's table holds its members' tables in a plain list: registered here, their
        # weights trace as the graph's weights, not as captured constants
        self.members = torch.nn.ModuleList(getattr(table, "parts", []))

    def forward(self, text: torch.Tensor, rows: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        return cast(torch.Tensor, self.table.cold_vectors(text, (rows, weights)))


class ShopperTower:
    """``(batch, length, dim)`` left-padded history vectors + padding mask -> ``(batch, dim)`` queries."""

    def __init__(self, net: Any, backend: TowerBackend = "onnx", threads: int = 1) -> None:
        if backend not in ("onnx", "torch"):
            raise ValueError(f"tower backend {backend!r} is not allowed; choose onnx or torch")
        self.backend = backend
        self.length, self.dim = int(net.max_len), int(net.dim)
        self.reference = _Reference(net).eval()
        self.graph: GraphTower | None = None
        if backend == "onnx":
            self.graph = GraphTower(tower_graph(net), self.length, self.dim, threads)

    def __call__(self, items: np.ndarray, padding: np.ndarray) -> np.ndarray:
        if self.graph is not None:
            return self.graph(items, padding)
        if items.shape[1] > self.length:  # the network reads the most recent ``length`` items
            items, padding = items[:, -self.length :], padding[:, -self.length :]
        with torch.inference_mode():
            return self.reference(torch.from_numpy(items), torch.from_numpy(padding)).float().numpy()


def _graph(
    module: torch.nn.Module, inputs: dict[str, torch.Tensor], axes: dict[str, dict[int, str]]
) -> bytes:
    """The ONNX graph (opset 17) of ``module`` traced on ``inputs``, with the ``axes`` left free."""
    folder = tempfile.TemporaryDirectory(prefix="semrec-graph-")
    graph = Path(folder.name) / "graph.onnx"
    try:
        with torch.no_grad():
            torch.onnx.export(
                module,
                tuple(inputs.values()),
                str(graph),
                input_names=list(inputs),
                output_names=["out"],
                dynamic_axes=axes,
                opset_version=17,
                dynamo=False,
            )
        return graph.read_bytes()
    finally:
        folder.cleanup()


def tower_graph(net: Any) -> bytes:
    """The shopper tower's graph: history vectors and padding mask, batch and length free."""
    items = torch.zeros(2, 5, int(net.dim))
    padding = torch.tensor([[True, True, False, False, False], [False] * 5])
    free = {0: "batch", 1: "length"}
    inputs = {"items": items, "padding": padding}
    return _graph(_LastHidden(net).eval(), inputs, {"items": free, "padding": free})


def new_items_graph(table: Any, text_dim: int, neighbours: int) -> bytes:
    """The new products' graph: text vectors and donors (rows, weights) -> vectors, any count."""
    inputs = {
        "text": torch.zeros(3, text_dim),
        "rows": torch.zeros(3, max(neighbours, 1), dtype=torch.long),
        "weights": torch.zeros(3, max(neighbours, 1)),
    }
    return _graph(_NewItems(table).eval(), inputs, {name: {0: "n"} for name in inputs})


def export_graphs(model: Any, directory: Path) -> Path:
    """Writes a trained sequential model's tower (and, when it can place new products, their
    vectors' graph) under ``directory``/serving; returns that folder."""
    folder = Path(directory) / EXPORT_FOLDER
    folder.mkdir(exist_ok=True)
    net = model.net.to("cpu").eval()
    (folder / TOWER_FILE).write_bytes(tower_graph(net))
    stale = folder / NEW_ITEMS_FILE
    stale.unlink(missing_ok=True)
    text = getattr(model, "text_vectors", None)
    if net.items.experts is not None and text is not None and int(model.config.text_components) == 0:
        neighbours = int(getattr(model.config, "cold_neighbours", 0))
        stale.write_bytes(new_items_graph(net.items, int(text.shape[1]), neighbours))
    return folder
