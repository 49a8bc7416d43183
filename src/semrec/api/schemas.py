"""Request and response bodies of the HTTP API (they are the OpenAPI schema)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

JsonDatetime = Annotated[datetime, Field(strict=False)]  # JSON holds no datetime: ISO 8601 is parsed


def _whole(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


JsonInt = Annotated[int, BeforeValidator(_whole)]  # JSON's integers include 3.0, not "3"
ID_PATTERN = r"^[^\x00-\x1f]{1,200}$"  # printable, 1..200 characters


class _EventFields(BaseModel):
    # request_id and position go together (both or neither); neither may be null when given
    model_config = ConfigDict(
        extra="forbid",
        strict=True,  # a number is not a string, 0 is not false: what the schema says, no coercion
        json_schema_extra={"dependentRequired": {"request_id": ["position"], "position": ["request_id"]}},
    )

    user_id: str = Field(pattern=ID_PATTERN, description="The shopper (stored only as a pseudonym).")
    item_id: str = Field(
        pattern=ID_PATTERN, description="A product of the catalog (404 names the first one that is not)."
    )
    timestamp: JsonDatetime | Annotated[float, Field(ge=0, le=1e11)] | None = Field(
        None,
        description="When: ISO 8601 (with a time zone, or UTC) or Unix seconds; now if absent.",
    )
    impression_id: str = Field(
        None,  # type: ignore[assignment]  # optional, but not null when given
        pattern=ID_PATTERN,
        description="The sponsored slot this event answers (its `impression_id`): a click charges "
        "the campaign; a cart or purchase after the click counts as its conversion. 404 when this "
        "shopper was not shown that slot for this item.",
    )
    request_id: str = Field(
        None,  # type: ignore[assignment]
        max_length=200,
        description="The `request_id` of the answer that showed the item (with `position`): the "
        "event then counts for that answer's list, A/B arm and model version. 404 when this "
        "server issued no such answer.",
    )
    position: JsonInt = Field(
        None,  # type: ignore[assignment]
        ge=0,
        le=999,
        description="With `request_id`: the item's place in that answer, from 0 (422 past its end).",
    )


class ActionIn(_EventFields):
    type: Literal["view", "click", "cart", "purchase"] = Field(description="What the shopper did.")
    value: float | None = Field(None, ge=-1e9, le=1e9, description="An amount (a price paid, say); optional.")


class RatingIn(_EventFields):
    type: Literal["rating"] = Field(description="The shopper rated the product.")
    value: float = Field(ge=1, le=5, description="The rating, 1 to 5.")


EventIn = Annotated[ActionIn | RatingIn, Field(discriminator="type")]
# the tags of the tagged unions: the validator puts them in an error's location, where no field is
UNION_TAGS = frozenset({"view", "click", "cart", "purchase", "rating"})


class EventsIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    events: list[EventIn] = Field(min_length=1, description="Events, oldest first.")


def events_body(limit: int) -> type[EventsIn]:
    """The events body with the server's batch limit in its schema."""

    class EventsBatch(EventsIn):
        events: list[EventIn] = Field(
            min_length=1, max_length=limit, description=f"Events, oldest first (1 to {limit})."
        )

    return EventsBatch


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
    sponsored: bool = Field(False, description="True for a paid placement.")
    campaign_id: str | None = Field(None, description="Sponsored only: the campaign that paid.")
    impression_id: str | None = Field(
        None, description="Sponsored only: send it back with the shopper's click (POST /v1/events)."
    )


ANSWER_FIELDS = {
    "arm": "The A/B arm that answered (`main` when no test runs).",
    "request_id": "This answer's id: send it back, with the item's position, in the events that follow.",
}


class ListOut(BaseModel):
    items: list[ItemOut]
    personalized: bool = False
    model_version: str
    arm: str = Field(description=ANSWER_FIELDS["arm"])
    request_id: str = Field(description=ANSWER_FIELDS["request_id"])
    took_ms: float


class ItemIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

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


class Exported(BaseModel):
    """Everything stored about a shopper (under their pseudonym)."""

    user_id: str
    arm: str = Field(description="The A/B arm the shopper is assigned to (computed, not stored).")
    events: list[dict[str, Any]] = Field(
        description="Item, type, time, value, when it was stored, the name of the key "
        "that sent it, and the answer it followed."
    )
    ad_impressions: list[dict[str, Any]] = Field(description="Sponsored products shown, and clicks.")


class Deleted(BaseModel):
    deleted: bool
    removed_events: int | None = None


class Reloaded(BaseModel):
    model_version: str
    previous_version: str
    items: int


class CampaignIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    items: list[str] = Field(
        min_length=1,
        max_length=10_000,
        description="The sponsored products (ids of the catalog; 404 names the first one that is not).",
    )
    bid_per_click: float = Field(gt=0, le=1e6, description="The most the campaign pays per click.")
    daily_budget: float = Field(gt=0, le=1e9, description="The most it spends per UTC day.")
    start: JsonDatetime | None = Field(None, description="When it starts serving (now if absent).")
    end: JsonDatetime | None = Field(
        None, description="When it stops serving (never if absent; at or before start: it never serves)."
    )
    active: bool = Field(True, description="False pauses it.")


class AdStats(BaseModel):
    impressions: int
    clicks: int
    conversions: int
    ctr: float
    spent: float


class TodayStats(AdStats):
    held: float = Field(description="Prices of today's shown ads still waiting for a click.")
    budget_left: float = Field(description="Daily budget less spend and holds.")


class CampaignOut(BaseModel):
    campaign_id: str
    items: list[str]
    bid_per_click: float
    daily_budget: float
    start: datetime | None
    end: datetime | None
    active: bool
    live: bool = Field(description="Active and within start..end now.")
    today: TodayStats
    all_time: AdStats


class CampaignsOut(BaseModel):
    campaigns: list[CampaignOut]


class AdsOut(BaseModel):
    items: list[ItemOut]
    personalized: bool
    model_version: str
    arm: str = Field(description=ANSWER_FIELDS["arm"])
    request_id: str = Field(description=ANSWER_FIELDS["request_id"])
    took_ms: float
