"""Budgets and frequency caps that hold under concurrent requests.

Showing an ad holds its price against the campaign's daily budget until the shopper clicks (the
hold becomes spend) or the hold expires (released): spend plus holds never exceed the budget, so
however many requests run at once, and whichever of their ads are clicked, spend stays within it.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections import defaultdict
from dataclasses import dataclass

DAY = 86_400.0


@dataclass
class Hold:
    campaign_id: str
    day: int
    amount: float
    expires: float


class Ledger:
    def __init__(self, hold_seconds: float = 1800.0, frequency_cap: int = 3) -> None:
        self.hold_seconds = hold_seconds
        self.frequency_cap = frequency_cap  # impressions per shopper, campaign and day
        self._lock = threading.Lock()
        self._spent: dict[tuple[str, int], float] = defaultdict(float)
        self._held: dict[tuple[str, int], float] = defaultdict(float)
        self._holds: dict[str, Hold] = {}
        self._expiries: list[tuple[float, str]] = []  # a heap: the next hold to expire first
        self._shown: dict[tuple[str, str, int], int] = defaultdict(int)
        self._ids = itertools.count(1)

    def hold(
        self, campaign_id: str, budget: float, price: float, shopper: str, now: float | None = None
    ) -> str | None:
        """An impression id when the campaign can still pay ``price`` today and the shopper has not
        reached the frequency cap; None otherwise (and nothing changes)."""
        now = time.time() if now is None else now
        day = int(now // DAY)
        with self._lock:
            self._expire(now)
            key = (campaign_id, day)
            if self._shown[(shopper, campaign_id, day)] >= self.frequency_cap:
                return None
            if self._spent[key] + self._held[key] + price > budget + 1e-12:
                return None
            impression = f"imp-{next(self._ids)}"
            self._holds[impression] = Hold(campaign_id, day, price, now + self.hold_seconds)
            heapq.heappush(self._expiries, (now + self.hold_seconds, impression))
            self._held[key] += price
            self._shown[(shopper, campaign_id, day)] += 1
            return impression

    def click(self, impression: str, now: float | None = None) -> float:
        """Charges the impression's held price (0 for an unknown, expired or clicked one)."""
        now = time.time() if now is None else now
        with self._lock:
            self._expire(now)
            hold = self._holds.pop(impression, None)
            if hold is None:
                return 0.0
            key = (hold.campaign_id, hold.day)
            self._held[key] -= hold.amount
            self._spent[key] += hold.amount
            return hold.amount

    def spent(self, campaign_id: str, now: float | None = None) -> float:
        now = time.time() if now is None else now
        with self._lock:
            return self._spent[(campaign_id, int(now // DAY))]

    def held(self, campaign_id: str, now: float | None = None) -> float:
        now = time.time() if now is None else now
        with self._lock:
            self._expire(now)
            return self._held[(campaign_id, int(now // DAY))]

    def _expire(self, now: float) -> None:
        while self._expiries and self._expiries[0][0] <= now:
            _, impression = heapq.heappop(self._expiries)
            hold = self._holds.pop(impression, None)  # None: clicked before it expired
            if hold is not None:
                self._held[(hold.campaign_id, hold.day)] -= hold.amount
