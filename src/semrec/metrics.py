"""Prometheus metrics of one app (own registry, so several apps in one process stay apart).

With several worker processes (``PROMETHEUS_MULTIPROC_DIR`` set, as ``semrec serve --workers N``
does), each process writes its values to files there and ``/metrics`` reports them all together:
counters and histograms summed over the workers, gauges as the largest among the live ones.
"""

from __future__ import annotations

import os
from typing import Any

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
        # every process reads the whole log through the same caps: the largest count is the truth
        self.past_caps = Gauge(
            "semrec_events_past_caps",
            "Events stored but kept out of shared signals by the influence caps, since this process started",
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
        # per A/B arm, list and model version, from the database at each scrape, as the ads are
        self.experiment = {
            name: Gauge(
                f"semrec_experiment_{name}",
                f"Answers of each A/B arm, list and model version: {text}, over every worker and node",
                ["arm", "list", "model_version"],
                registry=self.registry,
                multiprocess_mode="livemostrecent",
            )
            for name, text in (
                ("answers", "lists answered"),
                ("impressions", "items shown"),
                ("clicks", "items clicked (each answer position once)"),
                ("carts", "items put in the cart"),
                ("purchases", "items bought"),
                ("ctr", "clicks per impression"),
                ("conversion", "purchases per impression"),
            )
        }
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

    def set_experiment(self, rows: list[tuple[str, str, str, dict[str, Any]]]) -> None:
        """(arm, list, model version, counts as in the experiment report) for every answer list."""
        for arm, list_name, version, counts in rows:
            for name, gauge in self.experiment.items():
                gauge.labels(arm=arm, list=list_name, model_version=version).set(counts[name])

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
