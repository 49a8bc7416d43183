"""Campaigns and the ads ledger, in the store's database, so every worker and node over it shares one
budget.

Money is kept in integer micro-units. Showing an ad *holds* its per-click price against the
campaign's daily budget (UTC days) until the shopper clicks (the hold becomes spend) or the hold
expires (released). One placement decision (read what each campaign may still pay, run the auction,
hold the winners) is one write transaction, and the store lets one writer in at a time across
processes and nodes (SQLite's lock; an advisory lock on PostgreSQL), so spend plus holds never
exceed a budget however many requests run at once, and whichever of their ads are clicked, spend
stays within it.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from semrec.ads.auction import Campaign, Offer, Placement
from semrec.store.dbapi import Connection

DAY = 86_400
MICROS = 1_000_000

ADS_SCHEMA = """
CREATE TABLE IF NOT EXISTS campaigns (
    campaign_id TEXT PRIMARY KEY,
    items TEXT NOT NULL,
    bid INTEGER NOT NULL,
    daily_budget INTEGER NOT NULL,
    start REAL,
    end REAL,
    active INTEGER NOT NULL,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS ad_impressions (
    impression_id TEXT PRIMARY KEY,
    campaign_id TEXT NOT NULL,
    item_id TEXT NOT NULL,
    user_key TEXT NOT NULL,
    day INTEGER NOT NULL,
    price INTEGER NOT NULL,
    served REAL NOT NULL,
    expires REAL NOT NULL,
    clicked REAL
);
CREATE INDEX IF NOT EXISTS ad_holds ON ad_impressions (campaign_id, day, expires) WHERE clicked IS NULL;
CREATE INDEX IF NOT EXISTS ad_caps ON ad_impressions (user_key, campaign_id, day);
CREATE TABLE IF NOT EXISTS ad_days (
    campaign_id TEXT NOT NULL,
    day INTEGER NOT NULL,
    impressions INTEGER NOT NULL DEFAULT 0,
    clicks INTEGER NOT NULL DEFAULT 0,
    conversions INTEGER NOT NULL DEFAULT 0,
    spent INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (campaign_id, day)
);
"""


def micros(amount: float) -> int:
    return round(amount * MICROS)


@dataclass(frozen=True)
class StoredCampaign:
    campaign: Campaign
    active: bool


@dataclass(frozen=True)
class Impression:
    impression_id: str
    campaign_id: str
    item_id: str
    user_key: str
    expires: float
    clicked: float | None


@dataclass(frozen=True)
class Shown:
    """A placement held against its budget: the impression id the page sends back with a click."""

    placement: Placement
    impression_id: str


@dataclass(frozen=True)
class AdTotals:
    impressions: int = 0
    clicks: int = 0
    conversions: int = 0
    spent: float = 0.0
    held: float = 0.0  # today only: unclicked, unexpired impressions

    @property
    def ctr(self) -> float:
        return self.clicks / self.impressions if self.impressions else 0.0


class AdStore(Protocol):
    """What the server needs of a store's ads part (:class:`AdTables`, on either backend)."""

    def put_campaign(self, campaign: Campaign, active: bool = True) -> bool: ...
    def delete_campaign(self, campaign_id: str) -> bool: ...
    def campaign(self, campaign_id: str) -> StoredCampaign | None: ...
    def campaigns(self) -> list[StoredCampaign]: ...
    def place_ads(
        self,
        shopper: str,
        offers: Sequence[Offer],
        auction: Callable[[list[Offer]], list[Placement]],
        frequency_cap: int,
        hold_seconds: float,
        now: float | None = None,
    ) -> list[Shown]: ...
    def impression(self, impression_id: str) -> Impression | None: ...
    def ad_totals(self, now: float | None = None) -> dict[str, dict[str, AdTotals]]: ...


def day_of(now: float) -> int:
    return int(now // DAY)


class AdTables:
    """The ads part of the store (:class:`~semrec.store.sql.SQLStore` supplies the transaction and
    the reads, on either backend)."""

    def _transaction(self) -> AbstractContextManager[Connection]:
        raise NotImplementedError

    def _query(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    # campaigns: each write is a change every worker applies
    def put_campaign(self, campaign: Campaign, active: bool = True) -> bool:
        """Creates or replaces a campaign; True when it is new."""
        now = time.time()
        row = (
            campaign.campaign_id,
            json.dumps(sorted(campaign.items)),
            micros(campaign.bid),
            micros(campaign.daily_budget),
            campaign.start,
            campaign.end,
            int(active),
            now,
        )
        with self._transaction() as db:
            new = db.execute("SELECT 1 FROM campaigns WHERE campaign_id = ?", row[:1]).fetchone() is None
            db.execute(
                "INSERT INTO campaigns VALUES (?,?,?,?,?,?,?,?) ON CONFLICT(campaign_id) DO UPDATE SET "
                "items=excluded.items, bid=excluded.bid, daily_budget=excluded.daily_budget, "
                'start=excluded.start, "end"=excluded."end", active=excluded.active, '
                "updated=excluded.updated",
                row,
            )
            db.execute(
                "INSERT INTO changes (kind, key, at) VALUES ('campaign', ?, ?)", (campaign.campaign_id, now)
            )
        return new

    def delete_campaign(self, campaign_id: str) -> bool:
        """Removes a campaign from serving; its impressions and spend stay (they are billing records)."""
        now = time.time()
        with self._transaction() as db:
            removed = db.execute("DELETE FROM campaigns WHERE campaign_id = ?", (campaign_id,)).rowcount
            if removed:
                db.execute(
                    "INSERT INTO changes (kind, key, at) VALUES ('campaign', ?, ?)", (campaign_id, now)
                )
        return removed > 0

    @staticmethod
    def _campaign(row: tuple[Any, ...]) -> StoredCampaign:
        return StoredCampaign(
            Campaign(row[0], frozenset(json.loads(row[1])), row[2] / MICROS, row[3] / MICROS, row[4], row[5]),
            bool(row[6]),
        )

    def campaign(self, campaign_id: str) -> StoredCampaign | None:
        rows = self._query("SELECT * FROM campaigns WHERE campaign_id = ?", (campaign_id,))
        return self._campaign(rows[0]) if rows else None

    def campaigns(self) -> list[StoredCampaign]:
        return [self._campaign(r) for r in self._query("SELECT * FROM campaigns ORDER BY campaign_id")]

    # the ledger
    def place_ads(
        self,
        shopper: str,
        offers: Sequence[Offer],
        auction: Callable[[list[Offer]], list[Placement]],
        frequency_cap: int,
        hold_seconds: float,
        now: float | None = None,
    ) -> list[Shown]:
        """Runs ``auction`` over the offers whose campaign the shopper has seen fewer than
        ``frequency_cap`` times today and whose budget can still pay, and holds each winner's price;
        a winner whose price no longer fits its budget leaves its slot empty."""
        now = time.time() if now is None else now
        day = day_of(now)
        ids = sorted({o.campaign.campaign_id for o in offers})
        if not ids:
            return []
        with self._transaction() as db:
            marks = ",".join("?" * len(ids))
            spent = dict(
                db.execute(
                    f"SELECT campaign_id, spent FROM ad_days WHERE day = ? AND campaign_id IN ({marks})",
                    (day, *ids),
                ).fetchall()
            )
            held = dict(
                db.execute(
                    "SELECT campaign_id, CAST(SUM(price) AS BIGINT) FROM ad_impressions "
                    "WHERE clicked IS NULL AND day = ? "
                    f"AND expires > ? AND campaign_id IN ({marks}) GROUP BY campaign_id",
                    (day, now, *ids),
                ).fetchall()
            )
            seen = dict(
                db.execute(
                    "SELECT campaign_id, COUNT(*) FROM ad_impressions WHERE user_key = ? AND day = ? "
                    f"AND campaign_id IN ({marks}) GROUP BY campaign_id",
                    (shopper, day, *ids),
                ).fetchall()
            )
            left = {
                o.campaign.campaign_id: micros(o.campaign.daily_budget)
                - spent.get(o.campaign.campaign_id, 0)
                - held.get(o.campaign.campaign_id, 0)
                for o in offers
            }
            eligible = [
                o
                for o in offers
                if seen.get(o.campaign.campaign_id, 0) < frequency_cap and left[o.campaign.campaign_id] > 0
            ]
            shown = []
            for placement in auction(eligible):
                price = micros(placement.price)
                if price > left[placement.campaign_id]:
                    continue
                left[placement.campaign_id] -= price
                impression = "imp_" + secrets.token_urlsafe(12)
                db.execute(
                    "INSERT INTO ad_impressions VALUES (?,?,?,?,?,?,?,?,NULL)",
                    (impression, placement.campaign_id, placement.item_id, shopper, day, price, now,
                     now + hold_seconds),
                )  # fmt: skip
                db.execute(
                    "INSERT INTO ad_days (campaign_id, day, impressions) VALUES (?, ?, 1) "
                    "ON CONFLICT(campaign_id, day) DO UPDATE SET impressions = ad_days.impressions + 1",
                    (placement.campaign_id, day),
                )
                shown.append(Shown(placement, impression))
            return shown

    def impression(self, impression_id: str) -> Impression | None:
        rows = self._query(
            "SELECT impression_id, campaign_id, item_id, user_key, expires, clicked FROM ad_impressions "
            "WHERE impression_id = ?",
            (impression_id,),
        )
        return Impression(*rows[0]) if rows else None

    @staticmethod
    def _charge(db: Connection, impression_id: str, kind: str, now: float) -> float:
        """Inside the events' transaction: a click charges its impression's held price once, while
        the hold lasts; a cart or purchase after it counts as a conversion. Returns the charge."""
        row = db.execute(
            "SELECT campaign_id, day, price, expires, clicked FROM ad_impressions WHERE impression_id = ?",
            (impression_id,),
        ).fetchone()
        if row is None:
            return 0.0
        campaign_id, day, price, expires, clicked = row
        if kind == "click" and clicked is None and expires > now:
            db.execute("UPDATE ad_impressions SET clicked = ? WHERE impression_id = ?", (now, impression_id))
            db.execute(
                "UPDATE ad_days SET clicks = clicks + 1, spent = spent + ? WHERE campaign_id = ? AND day = ?",
                (price, campaign_id, day),
            )
            return float(price) / MICROS
        if kind in ("cart", "purchase") and clicked is not None:
            db.execute(
                "UPDATE ad_days SET conversions = conversions + 1 WHERE campaign_id = ? AND day = ?",
                (campaign_id, day),
            )
        return 0.0

    def ad_totals(self, now: float | None = None) -> dict[str, dict[str, AdTotals]]:
        """campaign id -> {"today": ..., "all": ...} for every campaign with an impression."""
        now = time.time() if now is None else now
        day = day_of(now)
        today = {
            r[0]: r[1:]
            for r in self._query(
                "SELECT campaign_id, impressions, clicks, conversions, spent FROM ad_days WHERE day = ?",
                (day,),
            )
        }
        held = dict(
            self._query(
                "SELECT campaign_id, CAST(SUM(price) AS BIGINT) FROM ad_impressions "
                "WHERE clicked IS NULL AND day = ? "
                "AND expires > ? GROUP BY campaign_id",
                (day, now),
            )
        )
        out = {}
        for campaign_id, impressions, clicks, conversions, spent in self._query(
            "SELECT campaign_id, CAST(SUM(impressions) AS BIGINT), CAST(SUM(clicks) AS BIGINT), "
            "CAST(SUM(conversions) AS BIGINT), CAST(SUM(spent) AS BIGINT) FROM ad_days "
            "GROUP BY campaign_id ORDER BY campaign_id"
        ):
            t = today.get(campaign_id, (0, 0, 0, 0))
            out[campaign_id] = {
                "today": AdTotals(t[0], t[1], t[2], t[3] / MICROS, held.get(campaign_id, 0) / MICROS),
                "all": AdTotals(impressions, clicks, conversions, spent / MICROS),
            }
        return out
