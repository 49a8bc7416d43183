"""The ads auction: sponsored candidates ranked by expected value (pCTR x bid per click) above a
relevance floor, each winner charged per click the generalised second price (the least bid that
would have kept its slot), never more than its own bid nor less than the reserve price."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Campaign:
    campaign_id: str
    items: frozenset[str]  # the sponsored item ids
    bid: float  # per click
    daily_budget: float
    start: float | None = None  # unix seconds; None: open
    end: float | None = None  # an end at or before the start: the campaign never serves

    def __post_init__(self) -> None:
        if not self.items:
            raise ValueError(f"campaign {self.campaign_id!r}: items must name at least one product")
        if self.bid <= 0 or self.daily_budget <= 0:
            raise ValueError(
                f"campaign {self.campaign_id!r}: bid ({self.bid}) and daily_budget ({self.daily_budget}) "
                "must be above 0"
            )

    def live(self, now: float) -> bool:
        return (self.start is None or now >= self.start) and (self.end is None or now < self.end)


@dataclass(frozen=True)
class Offer:
    """A sponsored item as a candidate for one shopper: its campaign, p(click) and relevance."""

    campaign: Campaign
    item_id: str
    pctr: float
    relevance: float  # what the floor reads (for example the ranker's probability itself)

    @property
    def value(self) -> float:
        return self.pctr * self.campaign.bid


@dataclass(frozen=True)
class Placement:
    campaign_id: str
    item_id: str
    pctr: float
    price: float  # charged per click
    expected_value: float


def run_auction(
    offers: Iterable[Offer], slots: int, relevance_floor: float, reserve_price: float = 0.01
) -> list[Placement]:
    """Up to ``slots`` placements, best expected value first; an offer under ``relevance_floor`` is
    never shown, whatever its bid; a campaign or an item fills one slot at most."""
    if slots < 0:
        raise ValueError(f"slots must be 0 or more, got {slots}")
    eligible = [o for o in offers if o.relevance >= relevance_floor and o.pctr > 0]
    eligible.sort(key=lambda o: (-o.value, o.campaign.campaign_id, o.item_id))
    ranked: list[Offer] = []
    campaigns: set[str] = set()
    items: set[str] = set()
    for offer in eligible:
        if offer.campaign.campaign_id in campaigns or offer.item_id in items:
            continue
        ranked.append(offer)
        campaigns.add(offer.campaign.campaign_id)
        items.add(offer.item_id)
    return [_placed(offer, ranked[i + 1 :], reserve_price) for i, offer in enumerate(ranked[:slots])]


def _placed(offer: Offer, below: Sequence[Offer], reserve_price: float) -> Placement:
    runner_up = below[0].value / offer.pctr if below else 0.0
    price = min(offer.campaign.bid, max(reserve_price, runner_up))
    return Placement(offer.campaign.campaign_id, offer.item_id, offer.pctr, price, offer.value)
