"""Request and response bodies of the HTTP API (they are the OpenAPI schema)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

EventType = Literal["view", "click", "cart", "purchase", "rating"]
ID_PATTERN = r"^[^\x00-\x1f]{1,200}$"  # printable, 1..200 characters


class EventIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: str = Field(pattern=ID_PATTERN, description="The shopper (stored only as a pseudonym).")
    item_id: str = Field(pattern=ID_PATTERN, description="A product of the catalog.")
    type: EventType = Field(description="What the shopper did.")
    timestamp: datetime | None = Field(None, description="When (ISO 8601 or Unix seconds); now if absent.")
    value: float | None = Field(None, ge=-1e9, le=1e9, description="Rating (1-5) or amount; optional.")


class EventsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    events: list[EventIn] = Field(min_length=1, description="Events, oldest first.")


class EventsAccepted(BaseModel):
    accepted: int = Field(description="Events stored durably before this answer was sent.")


class ItemOut(BaseModel):
    item_id: str
    title: str
    category: str | None = None
    brand: str | None = None
    price: float | None = None
    score: float | None = None
    reason: str | None = None


class ListOut(BaseModel):
    items: list[ItemOut]
    personalized: bool = False
    model_version: str
    took_ms: float


class ItemIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=1000)
    description: str | None = Field(None, max_length=20000)
    category: str | None = Field(None, max_length=1000, description="Category path, e.g. 'Makeup > Eyes'.")
    brand: str | None = Field(None, max_length=200)
    price: float | None = Field(None, ge=0, le=1e9)
    available: bool = Field(True, description="Unavailable items are left out of every answer.")
    attributes: dict[str, Any] = Field(default_factory=dict, description="Extra fields, kept as given.")


class ItemStored(BaseModel):
    item_id: str
    recommendable: bool = Field(description="True when the model can recommend it (it always is searchable).")
    model_version: str


class Profile(BaseModel):
    user_id: str
    events: int
    event_types: dict[str, int]
    top_categories: list[str]
    top_brands: list[str]
    keywords: list[str]
    recent_items: list[dict[str, Any]]


class Deleted(BaseModel):
    deleted: bool
    removed_events: int | None = None


class Reloaded(BaseModel):
    model_version: str
    previous_version: str
    items: int
