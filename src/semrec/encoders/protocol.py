"""What every text encoder offers, whatever runs it (PyTorch, ONNX Runtime)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np


class Encoder(Protocol):
    max_length: int

    @property
    def dim(self) -> int: ...

    def fingerprint(self) -> str: ...

    def encode(self, texts: Sequence[str], progress: str | None = None) -> np.ndarray: ...
