"""The FastAPI application: ``create_app(settings)`` wires store, model, index and routes."""

import asyncio
import json
import logging
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import faiss
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

import semrec
from semrec.api.auth import KeyRing
from semrec.api.errors import install_error_handlers
from semrec.api.middleware import LimitsAndMetrics
from semrec.api.routes import add_routes
from semrec.api.routes.operations import STATIC
from semrec.metrics import Metrics
from semrec.online.collector import settle
from semrec.online.engine import Engine
from semrec.online.follower import Follower
from semrec.online.runtime import ModelRuntime
from semrec.online.seed import prepare_store
from semrec.settings import ServerSettings
from semrec.store import open_store
from semrec.store.protocol import Store

log = logging.getLogger("semrec.api")

PUBLIC_ROUTES = ("/", "/healthz", "/readyz", "/metrics")  # reachable without a key, by design


def build_engine(settings: ServerSettings, store: Store, artifacts: Path | None = None) -> Engine:
    runtime = ModelRuntime(
        artifacts or settings.artifacts,
        device=settings.encoder_device,
        tower=settings.shopper_tower,
        query_encoder=settings.query_encoder,
        ranker=settings.ranker,
    )
    engine = Engine(settings, store, runtime, prepare_store(store, runtime, settings))
    engine.build_indexes()
    return engine


def create_app(settings: ServerSettings) -> FastAPI:
    """Builds the app; loads the model and indexes before returning, so it is ready at once."""
    from threadpoolctl import threadpool_limits

    torch = sys.modules.get("torch")  # loaded by the model, unless its artifacts were exported
    if torch is not None:
        torch.set_num_threads(settings.torch_threads)
    # FAISS (OpenMP) and numpy (OpenBLAS) parallelise each small operation; with one request per
    # thread that only oversubscribes the cores (idle workers spin), so each runs on its own thread
    faiss.omp_set_num_threads(1)
    threadpool_limits(limits=1)
    store = open_store(settings.database, group_commit=settings.group_commit)
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        ticker = asyncio.create_task(_follow(app.state.follower, settings))
        yield
        ticker.cancel()
        metrics.process_exited()

    app = FastAPI(
        lifespan=lifespan,
        title="semrec",
        version=semrec.__version__,
        description="Real-time recommendations, similar products and semantic search.",
    )
    app.state.settings = settings
    app.state.store = store
    app.state.metrics = metrics
    app.state.keyring = KeyRing(settings.api_keys, settings.anonymous_scopes)

    engine = build_engine(settings, store)
    app.state.follower = Follower(engine, store, lambda path: build_engine(settings, store, path), metrics)
    settle()
    metrics.set_model(engine.runtime.version, int(engine.catalog.alive.sum()))
    install_error_handlers(app)
    app.add_middleware(LimitsAndMetrics, max_body_bytes=settings.max_body_bytes, metrics=metrics)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    add_routes(app, settings)
    return app


async def _follow(follower: Follower, settings: ServerSettings) -> None:
    """Keeps this worker current while no request comes, on the event loop as requests are."""
    while True:
        await asyncio.sleep(settings.follow_interval)
        try:
            await follower.current_async()
            if follower.prune_due(settings.change_log_retention):
                await asyncio.to_thread(follower.prune, settings.change_log_retention)
        except Exception:  # a failed round (a busy database, say) must not stop the next ones
            log.exception("could not follow the change log")


WORKER_INPUTS = "_SEMREC_WORKER_INPUTS"  # how `semrec serve --workers N` hands its inputs to each worker


def create_worker_app() -> FastAPI:
    """The app of one worker process: settings from the inputs `semrec serve` was given (config
    file and command-line values, as JSON in the environment), so every worker reads the same."""
    from semrec.settings import load_settings

    inputs = json.loads(os.environ[WORKER_INPUTS])
    config = inputs.get("config")
    settings = load_settings(Path(config) if config else None, **inputs["overrides"])
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(name)s %(message)s")
    return create_app(settings)
