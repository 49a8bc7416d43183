"""What every text encoder offers, whatever runs it (PyTorch, ONNX Runtime)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np


class Encoder(Protocol):
    max_length: int

    @property
    def dim(self) -> int: ...

    @property
    def backend(self) -> str:
        """What runs it: torch-fp32, torch-bf16, onnx-fp32 or onnx-int8."""
        ...

    def fingerprint(self) -> str: ...

    def encode(self, texts: Sequence[str], progress: str | None = None) -> np.ndarray: ...
