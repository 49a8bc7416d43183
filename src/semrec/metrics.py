"""Prometheus metrics of one app (own registry, so several apps in one process stay apart).

With several worker processes (``PROMETHEUS_MULTIPROC_DIR`` set, as ``semrec serve --workers N``
does), each process writes its values to files there and ``/metrics`` reports them all together:
counters and histograms summed over the workers, gauges as the largest among the live ones.
"""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess

from semrec.store.ads import AdTotals

LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


def multiprocess_mode() -> bool:
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.latency = Histogram(
            "semrec_request_seconds",
            "Time to answer a request, by route and status class",
            ["method", "route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.events = Counter(
            "semrec_events_ingested_total", "Events stored durably", ["type"], registry=self.registry
        )
        self.index_items = Gauge(
            "semrec_index_items",
            "Items answers can contain",
            registry=self.registry,
            multiprocess_mode="livemax",
        )
        self.model = Gauge(
            "semrec_model_info",
            "The model version being served (value 1)",
            ["version"],
            registry=self.registry,
            multiprocess_mode="livemax",
        )
        self.reloads = Counter("semrec_reloads_total", "Successful model reloads", registry=self.registry)
        # read from the database at each scrape (the ledger every worker and node shares), so the
        # newest value written by any worker is the truth
        self.ads = {
            name: Gauge(
                f"semrec_ad_{name}",
                f"Sponsored placements per campaign: {text}, today (UTC) or over all time",
                ["campaign", "period"],
                registry=self.registry,
                multiprocess_mode="livemostrecent",
            )
            for name, text in (
                ("impressions", "ads shown"),
                ("clicks", "clicks charged"),
                ("conversions", "carts and purchases after a charged click"),
                ("ctr", "clicks per impression"),
                ("spend", "money charged"),
            )
        }
        self.ad_budget_left = Gauge(
            "semrec_ad_budget_left",
            "Today's budget of each campaign less its spend and the prices held for pending clicks",
            ["campaign"],
            registry=self.registry,
            multiprocess_mode="livemostrecent",
        )
        self._versions: set[str] = set()

    def set_model(self, version: str, items: int) -> None:
        if multiprocess_mode():
            # a worker's values live in shared files, which clear() does not reach
            for old in self._versions - {version}:
                self.model.labels(version=old).set(0)
        else:
            self.model.clear()
        self._versions.add(version)
        self.model.labels(version=version).set(1)
        self.index_items.set(items)

    def set_ads(self, totals: dict[str, dict[str, AdTotals]], budgets: dict[str, float]) -> None:
        for campaign, periods in totals.items():
            for period, t in periods.items():
                values = (t.impressions, t.clicks, t.conversions, t.ctr, t.spent)
                for gauge, value in zip(self.ads.values(), values, strict=True):
                    gauge.labels(campaign=campaign, period=period).set(value)
        for campaign, budget in budgets.items():
            today = totals.get(campaign, {}).get("today", AdTotals())
            self.ad_budget_left.labels(campaign=campaign).set(max(budget - today.spent - today.held, 0.0))

    def exposition(self) -> bytes:
        """The text /metrics serves: every worker's values when there are several."""
        if not multiprocess_mode():
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)

    @staticmethod
    def process_exited() -> None:
        """Drops this worker's gauges from the shared files (its counters keep counting in the sum)."""
        if multiprocess_mode():
            multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]
