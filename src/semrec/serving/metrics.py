"""Prometheus metrics of one app (own registry, so several apps in one process stay apart)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


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
        self.index_items = Gauge("semrec_index_items", "Items answers can contain", registry=self.registry)
        self.model = Gauge(
            "semrec_model_info",
            "The model version being served (value 1)",
            ["version"],
            registry=self.registry,
        )
        self.reloads = Counter("semrec_reloads_total", "Successful model reloads", registry=self.registry)

    def set_model(self, version: str, items: int) -> None:
        self.model.clear()
        self.model.labels(version=version).set(1)
        self.index_items.set(items)
