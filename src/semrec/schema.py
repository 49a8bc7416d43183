"""The shapes every layer shares: an item, an event, a scored row of an answer.

The store keeps them, the catalog and the engine read them, the HTTP API converts its request
bodies into them and its answers from them; none of those layers has an item shape of its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

import numpy as np

EVENT_TYPES = ("view", "click", "cart", "purchase", "rating")


@dataclass
class Item:
    """A product as the shop describes it, with the text vector it was embedded to (when it has
    one) and which encoder made that vector."""

    item_id: str
    title: str = ""
    text: str = ""  # what the encoder reads (title, brand, categories, description, ...)
    category: str = ""
    brand: str = ""
    price: float | None = None
    available: bool = True
    attributes: dict[str, Any] = field(default_factory=dict)
    vector: np.ndarray | None = None
    vector_key: str = ""  # the fingerprint of the encoder that made ``vector``

    def listing(self) -> Item:
        """The item as the live catalog keeps it: what answers show, filters and rules read, without
        its text, extra attributes and vector (the catalog holds the vectors in its matrices)."""
        return replace(self, title=self.title or self.item_id, text="", attributes={}, vector=None)

    def as_json(self) -> dict[str, Any]:
        """The item as an answer shows it."""
        return {
            "item_id": self.item_id,
            "title": self.title or self.item_id,
            "category": self.category or None,
            "brand": self.brand or None,
            "price": self.price,
        }


@dataclass(frozen=True)
class Attribution:
    """Which answer an event followed: its request id, the position (0-based) of the item in it,
    and what the id names (the list, the A/B arm and the short hash of the model version)."""

    request_id: str
    position: int
    list: str
    arm: str
    model: str


@dataclass(frozen=True)
class Event:
    """One thing a shopper did, under the pseudonym ``user_key``."""

    user_key: str
    item_id: str
    type: str  # one of EVENT_TYPES
    timestamp: float
    value: float | None = None
    impression: str | None = None  # the ad impression it answers (a click charges it); not kept in events
    attribution: Attribution | None = None  # the answer it followed, when the client says
    source: str | None = None  # the name of the API key that sent it


class EventRow(NamedTuple):
    """One stored event as the store's log returns it."""

    id: int
    user_key: str
    item_id: str
    ts: float  # when it happened (the client's word)
    received: float | None  # when the server stored it (None: stored before the server kept it)
    source: str | None  # the name of the API key that sent it (None: not sent through the API)


@dataclass
class Scored:
    """A catalog row in an answer: its score and, when there is one, why it is there."""

    row: int
    score: float
    reason: str | None = None
