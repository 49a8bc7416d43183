"""The FastAPI application: ``create_app(settings)`` wires store, model, index and routes."""

import asyncio
import functools
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
from semrec.api.contract import AllowedMethods, install_contract
from semrec.api.errors import install_error_handlers
from semrec.api.limits import RateLimits
from semrec.api.middleware import LimitsAndMetrics
from semrec.api.routes import add_routes
from semrec.api.routes.operations import STATIC
from semrec.metrics import Metrics
from semrec.online.collector import settle
from semrec.online.engine import Engine
from semrec.online.experiment import Arm, Experiment
from semrec.online.follower import Follower
from semrec.online.runtime import ModelRuntime
from semrec.online.seed import prepare_store
from semrec.settings import ArmSettings, ServerSettings
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
        ticker = asyncio.create_task(_follow(app.state.experiment, settings))
        yield
        ticker.cancel()
        try:
            app.state.experiment.flush()  # this worker's last answer counts
        except Exception:
            log.exception("could not store the last answer counts")
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
    app.state.limits = RateLimits({scope: limit for scope, limit in settings.rate_limits.items()})

    arms = []
    for i, planned in enumerate(settings.arms or [ArmSettings(name="main", share=1.0)]):
        built = build_engine(settings, store, planned.artifacts or settings.artifacts)
        rebuild = functools.partial(build_engine, settings, store)
        # the control follows the reloads logged without an arm, as a server without arms does
        follower = Follower(built, store, rebuild, metrics, arm="" if i == 0 else planned.name)
        arms.append(Arm(planned.name, planned.share, follower))
    app.state.follower = arms[0].follower  # writes go through the control's engine
    engine = arms[0].follower.engine
    app.state.experiment = Experiment(settings.experiment, arms, engine.secret, store)
    settle()
    metrics.set_model(engine.runtime.version, int(engine.catalog.alive.sum()))
    install_error_handlers(app)
    app.add_middleware(AllowedMethods)
    app.add_middleware(LimitsAndMetrics, max_body_bytes=settings.max_body_bytes, metrics=metrics)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    add_routes(app, settings)
    install_contract(app, PUBLIC_ROUTES)
    return app


async def _follow(experiment: Experiment, settings: ServerSettings) -> None:
    """Keeps this worker current while no request comes, on the event loop as requests are, and
    stores its answer counts and reads which arms run (another node may have stopped one)."""
    while True:
        await asyncio.sleep(settings.follow_interval)
        try:
            for arm in experiment.arms.values():
                await arm.follower.current_async()
            control = experiment.control.follower
            if control.prune_due(settings.change_log_retention):
                await asyncio.to_thread(control.prune, settings.change_log_retention)
            await asyncio.to_thread(experiment.flush)
            await asyncio.to_thread(experiment.refresh)
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
