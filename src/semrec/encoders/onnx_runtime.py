"""Text encoders exported by `semrec export`, run on ONNX Runtime (fp32, or dynamic int8 with
per-channel weights). Pooling and normalisation run in numpy exactly as in
:class:`~semrec.encoders.transformer.TextEncoder` does in torch, so the backends differ only in the
transformer arithmetic. Needs neither torch nor the exporter."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np

from semrec.encoders.batching import encode_by_length

Backend = Literal["torch", "onnx", "onnx-int8"]
BACKENDS: tuple[Backend, ...] = ("torch", "onnx", "onnx-int8")
MODEL_FILES = {"onnx": "model.onnx", "onnx-int8": "model-int8.onnx"}


class OnnxTextEncoder:
    """Same interface as :class:`TextEncoder` (``encode``, ``fingerprint``, ``dim``), on ONNX Runtime."""

    def __init__(self, folder: Path, batch_size: int = 64, threads: int | None = None) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.path = Path(folder)
        manifest_path = self.path / "semrec-encoder.json"
        if not manifest_path.exists():
            raise ValueError(
                f"{folder} is not an exported encoder (no semrec-encoder.json); run `semrec export`"
            )
        self.manifest = json.loads(manifest_path.read_text())
        self.backend_kind: Backend = self.manifest["backend"]
        self.max_length = int(self.manifest["max_length"])
        self.pooling = str(self.manifest["pooling"])
        self.batch_size = batch_size
        # the fast tokenizer's own file, read by the tokenizers library (transformers would load torch)
        self.tokenizer = Tokenizer.from_file(str(self.path / "tokenizer.json"))
        settings = json.loads((self.path / "tokenizer_config.json").read_text())
        pad = str(settings.get("pad_token", "[PAD]"))
        pad_id = self.tokenizer.token_to_id(pad)
        self.tokenizer.enable_padding(pad_id=0 if pad_id is None else pad_id, pad_token=pad)
        self.tokenizer.enable_truncation(max_length=self.max_length)
        options = ort.SessionOptions()
        if threads is not None:
            options.intra_op_num_threads = threads
        model_file = self.path / MODEL_FILES[self.backend_kind]
        self.session = ort.InferenceSession(str(model_file), options, providers=["CPUExecutionProvider"])
        self._fingerprint = hashlib.sha256(
            (
                self.manifest["source_fingerprint"] + self.backend_kind + str(model_file.stat().st_size)
            ).encode()
        ).hexdigest()[:16]

    @property
    def dim(self) -> int:
        return int(self.manifest["dim"])

    @property
    def backend(self) -> str:
        return "onnx-fp32" if self.backend_kind == "onnx" else str(self.backend_kind)

    def fingerprint(self) -> str:
        return self._fingerprint

    def feed(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """The graph's inputs for one batch: token ids and attention mask, padded to its longest text."""
        batch = self.tokenizer.encode_batch(list(texts))
        return {
            "input_ids": np.array([row.ids for row in batch], dtype=np.int64),
            "attention_mask": np.array([row.attention_mask for row in batch], dtype=np.int64),
        }

    def encode(self, texts: Sequence[str], progress: str | None = None) -> np.ndarray:
        def run(chunk: list[str]) -> np.ndarray:
            inputs = self.feed(chunk)
            (hidden,) = self.session.run(None, inputs)
            return pool(hidden, inputs["attention_mask"], self.pooling)

        return encode_by_length(texts, self.dim, self.batch_size, run, progress)


def pool(hidden: np.ndarray, mask: np.ndarray, pooling: str) -> np.ndarray:
    """(batch, tokens, dim) -> (batch, dim) unit vectors, as TextEncoder.pool does in torch."""
    if pooling == "cls":
        pooled = hidden[:, 0]
    else:
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(1) / np.maximum(weights.sum(1), 1e-9)
    norms = np.linalg.norm(pooled, axis=1, keepdims=True)
    return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)
