"""Shapes shared by the online engine and the HTTP API."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Scored:
    """A catalog row in an answer: its score and, when there is one, why it is there."""

    row: int
    score: float
    reason: str | None = None
