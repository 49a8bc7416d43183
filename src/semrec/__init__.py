"""semrec: real-time recommendations for online shops, built on pretrained language models."""

from __future__ import annotations

__version__ = "0.1.0"
