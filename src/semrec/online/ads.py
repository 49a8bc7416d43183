"""Sponsored slots for one shopper: the live campaigns' products among the ranking stage's
candidates, its calibrated p(next item) as their pCTR, the auction (expected value above a
relevance floor, second price), and the store's ledger (budgets, frequency caps)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

import numpy as np

from semrec.ads.auction import Campaign, Offer, run_auction
from semrec.errors import ApiError
from semrec.store.ads import StoredCampaign
from semrec.store.protocol import Store

if TYPE_CHECKING:
    from semrec.online.engine import Engine


@dataclass(frozen=True)
class Sponsored:
    row: int  # the catalog row
    campaign_id: str
    impression_id: str
    pctr: float


@dataclass(frozen=True)
class Head:
    """The ranking stage's scored candidates of one answer: catalog rows and p(next item)."""

    rows: np.ndarray
    p: np.ndarray


class CampaignBook:
    """The store's campaigns by sponsored product, kept current from the change log (a change
    names the campaign; the book reads it again). Replaced whole on each change, so readers never
    see half of one."""

    def __init__(self, store: Store) -> None:
        self._campaigns = {c.campaign.campaign_id: c for c in store.campaigns()}
        self._by_item = self._index(self._campaigns)

    @staticmethod
    def _index(campaigns: dict[str, StoredCampaign]) -> dict[str, list[Campaign]]:
        by_item: dict[str, list[Campaign]] = {}
        for stored in campaigns.values():
            if stored.active:
                for item in stored.campaign.items:
                    by_item.setdefault(item, []).append(stored.campaign)
        return by_item

    def refresh(self, store: Store, campaign_id: str) -> None:
        campaigns = dict(self._campaigns)
        stored = store.campaign(campaign_id)
        if stored is None:
            campaigns.pop(campaign_id, None)
        else:
            campaigns[campaign_id] = stored
        self._campaigns, self._by_item = campaigns, self._index(campaigns)

    def __len__(self) -> int:
        return len(self._campaigns)

    def offers(self, item_ids: list[str], p: np.ndarray, now: float) -> list[Offer]:
        """An offer per live campaign sponsoring each candidate, with the candidate's probability as
        both its pCTR and the relevance the floor reads."""
        by_item = self._by_item
        return [
            Offer(campaign, item_id, float(chance), float(chance))
            for item_id, chance in zip(item_ids, p.tolist(), strict=True)
            for campaign in by_item.get(item_id, ())
            if campaign.live(now)
        ]


def place(
    store: Store,
    book: CampaignBook,
    shopper: str,
    head: Head,
    item_ids: list[str],
    slots: int,
    floor: float,
    reserve: float,
    frequency_cap: int,
    hold_seconds: float,
) -> list[Sponsored]:
    """Up to ``slots`` sponsored products for ``shopper`` (a pseudonym), each held in the ledger."""
    now = time.time()
    offers = book.offers(item_ids, head.p, now)
    if not offers or slots == 0:
        return []
    auction = partial(run_auction, slots=slots, relevance_floor=floor, reserve_price=reserve)
    shown = store.place_ads(shopper, offers, auction, frequency_cap, hold_seconds, now)
    row_of = {item_id: int(row) for item_id, row in zip(item_ids, head.rows.tolist(), strict=True)}
    return [
        Sponsored(row_of[s.placement.item_id], s.placement.campaign_id, s.impression_id, s.placement.pctr)
        for s in shown
    ]


def sponsored_for(engine: Engine, user_id: str, head: Head | None, slots: int) -> list[Sponsored]:
    """The shopper's sponsored products over the scored candidates of their answer (none for a
    shopper the popular list answers). A model without a ranking stage has no pCTR to rank ads by:
    a clear error rather than ads ordered by bid."""
    if engine.runtime.ranker is None:
        raise ApiError(
            409,
            "the served model has no ranking stage, so no p(click) to rank ads by",
            where="artifacts",
            allowed="lmrec artifacts with their ranking stage (the default), served with ranker = true",
        )
    if head is None or slots == 0 or not len(engine.campaigns):
        return []
    settings = engine.settings
    catalog = engine.catalog
    return place(
        engine.store,
        engine.campaigns,
        engine.user_key(user_id),
        head,
        [catalog.meta[r].item_id for r in head.rows.tolist()],
        slots,
        settings.ads_relevance_floor,
        settings.ads_reserve_price,
        settings.ads_frequency_cap,
        settings.ads_hold_seconds,
    )
