"""Per-key rate limits: a token bucket for each API key and scope (an anonymous caller's bucket is
its address's). Limits hold per server process; with N workers a key may reach N times its rate."""

from __future__ import annotations

import math
import threading

from pyrate_limiter import Duration, MonotonicClock, Rate, RateItem, StateBucket, TokenBucket

from semrec.errors import ApiError
from semrec.settings import RateLimit


class RateLimits:
    def __init__(self, limits: dict[str, RateLimit]) -> None:
        self._rates = {
            scope: [Rate(limit.requests, int(limit.seconds * Duration.SECOND), limit.burst or limit.requests)]
            for scope, limit in limits.items()
        }
        self._buckets: dict[tuple[str, str], StateBucket] = {}
        self._lock = threading.Lock()
        self._clock = MonotonicClock()

    def take(self, caller: str, scope: str) -> None:
        """Spends one token of the caller's bucket for ``scope``, or raises 429 with Retry-After."""
        rates = self._rates.get(scope)
        if rates is None:
            return
        with self._lock:
            bucket = self._buckets.get((caller, scope))
            if bucket is None:
                bucket = self._buckets[(caller, scope)] = StateBucket(rates, TokenBucket())
        item = RateItem(caller, int(self._clock.now()))
        if bucket.put(item):
            return
        wait_ms = bucket.waiting(item)
        seconds = max(1, math.ceil(int(wait_ms) / 1000)) if isinstance(wait_ms, int) and wait_ms > 0 else 1
        limit = rates[0]
        raise ApiError(
            429,
            f"too many {scope!r} requests from this key; try again in {seconds} s",
            where="headers.x-api-key",
            allowed=f"{limit.limit} per {limit.interval / 1000:g} s (bursts of {limit.burst})",
            headers={"Retry-After": str(seconds)},
        )
