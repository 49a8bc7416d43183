"""Operations: the demo page, liveness, readiness and metrics (public, by design)."""

import os
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST

from semrec.api.deps import EngineDep
from semrec.hardware import cpu_info
from semrec.metrics import Metrics

STATIC = Path(__file__).resolve().parents[1] / "static"
CPU = cpu_info()


def router() -> APIRouter:
    routes = APIRouter()

    @routes.get("/", include_in_schema=False)
    def demo_page() -> FileResponse:
        """The demo shop (plain HTML and JavaScript over this API)."""
        return FileResponse(STATIC / "index.html")

    @routes.get("/healthz", tags=["operations"])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @routes.get("/readyz", tags=["operations"])
    def readyz(engine: EngineDep) -> dict[str, Any]:
        return {
            "status": "ready",
            "worker": os.getpid(),  # which server process answered (several with `workers` > 1)
            "model_version": engine.runtime.version,
            "items": int(engine.catalog.alive.sum()),
            # what embeds new products and queries here, and what the CPU offers it
            "encoder": {
                "backend": engine.runtime.encoder.backend,
                "query_backend": engine.runtime.query_encoder.backend,
                "cpu": CPU,
            },
        }

    @routes.get("/metrics", tags=["operations"], response_class=PlainTextResponse)
    def metrics_route(request: Request, engine: EngineDep) -> PlainTextResponse:
        metrics: Metrics = request.app.state.metrics
        metrics.past_caps.set(engine.influence.refused)
        store = request.app.state.store
        budgets = {c.campaign.campaign_id: c.campaign.daily_budget for c in store.campaigns()}
        metrics.set_ads(store.ad_totals(), budgets)
        metrics.set_experiment(request.app.state.experiment.metric_rows())
        return PlainTextResponse(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    return routes
