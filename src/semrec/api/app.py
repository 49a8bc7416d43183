"""The FastAPI application: ``create_app(settings)`` wires store, model, index and routes."""

import asyncio
import json
import logging
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import faiss
from fastapi import Body, Depends, FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, PlainTextResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel, Field

import semrec
from semrec.api.auth import KeyRing, Principal, require
from semrec.api.errors import ApiError, install_error_handlers
from semrec.api.metrics import Metrics
from semrec.api.middleware import LimitsAndMetrics
from semrec.api.schemas import (
    ID_PATTERN,
    Deleted,
    EventsAccepted,
    EventsIn,
    ItemIn,
    ItemOut,
    ItemStored,
    ListOut,
    Profile,
    Reloaded,
)
from semrec.api.settings import ServerSettings
from semrec.online.collector import settle
from semrec.online.engine import Engine
from semrec.online.runtime import ModelRuntime
from semrec.schema import Scored
from semrec.store.follower import Follower
from semrec.store.sqlite import Event, ItemRecord, SQLiteStore

log = logging.getLogger("semrec.api")

PUBLIC_ROUTES = ("/", "/healthz", "/readyz", "/metrics")  # reachable without a key, by design
STATIC = Path(__file__).parent / "static"


class ReloadIn(BaseModel):
    artifacts: Path | None = Field(
        None, description="Artifact folder to serve instead (default: the current)."
    )


def build_engine(settings: ServerSettings, store: SQLiteStore, artifacts: Path | None = None) -> Engine:
    runtime = ModelRuntime(
        artifacts or settings.artifacts, device=settings.encoder_device, tower=settings.shopper_tower
    )
    engine = Engine(settings, store, runtime)
    engine.build_indexes()
    return engine


def create_app(settings: ServerSettings) -> FastAPI:
    """Builds the app; loads the model and indexes before returning, so it is ready at once."""
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(settings.torch_threads)
    # FAISS (OpenMP) and numpy (OpenBLAS) parallelise each small operation; with one request per
    # thread that only oversubscribes the cores (idle workers spin), so each runs on its own thread
    faiss.omp_set_num_threads(1)
    threadpool_limits(limits=1)
    store = SQLiteStore(settings.database)
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
    _add_routes(app, settings)
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


async def _engine(request: Request) -> Engine:
    follower: Follower = request.app.state.follower
    return await follower.current_async()  # a request keeps the engine it started with


EngineDep = Annotated[Engine, Depends(_engine)]
UserId = Annotated[str, PathParam(pattern=ID_PATTERN, description="The shopper's id.")]
ItemId = Annotated[str, PathParam(pattern=ID_PATTERN, description="The product's id.")]


def _listing(engine: Engine, results: list[Scored], started: float, personal: bool = False) -> Response:
    """A ListOut document, serialised directly: the rows are built here from typed values, so a
    second validation pass by the framework would only add latency."""
    items = []
    for result in results:
        item = engine.item_json(result.row)
        item["score"], item["reason"] = round(result.score, 6), result.reason
        items.append(item)
    body = {
        "items": items,
        "personalized": personal,
        "model_version": engine.runtime.version,
        "took_ms": round((time.perf_counter() - started) * 1000, 3),
    }
    return Response(json.dumps(body, allow_nan=False), media_type="application/json")


def _add_routes(app: FastAPI, settings: ServerSettings) -> None:
    K = Annotated[int, Query(ge=1, le=settings.max_k, description="How many items to return.")]
    reader = Depends(require("read"))
    writer = Depends(require("write"))
    admin = Depends(require("admin"))

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    def demo_page() -> FileResponse:
        """The demo shop (plain HTML and JavaScript over this API)."""
        return FileResponse(STATIC / "index.html")

    @app.get("/healthz", tags=["operations"])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"])
    def readyz(engine: EngineDep) -> dict[str, Any]:
        return {
            "status": "ready",
            "worker": os.getpid(),  # which server process answered (several with `workers` > 1)
            "model_version": engine.runtime.version,
            "items": int(engine.catalog.alive.sum()),
        }

    @app.get("/metrics", tags=["operations"], response_class=PlainTextResponse)
    def metrics_route(request: Request) -> PlainTextResponse:
        metrics: Metrics = request.app.state.metrics
        return PlainTextResponse(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    @app.post("/v1/events", response_model=EventsAccepted, tags=["events"], dependencies=[writer])
    def post_events(request: Request, body: EventsIn, engine: EngineDep) -> EventsAccepted:
        if len(body.events) > settings.max_events_per_request:
            raise ApiError(
                413,
                f"{len(body.events)} events in one request; at most {settings.max_events_per_request}",
                where="body.events",
                allowed=f"1..{settings.max_events_per_request} events",
            )
        now = time.time()
        events = []
        for i, event in enumerate(body.events):
            if engine.catalog.live_row(event.item_id) is None:
                raise ApiError(
                    422,
                    f"item {event.item_id!r} is not in the catalog; nothing was stored",
                    where=f"body.events[{i}].item_id",
                    allowed="an item_id of the catalog (PUT /v1/items/{item_id} adds one)",
                )
            if event.type == "rating" and (event.value is None or not 1 <= event.value <= 5):
                raise ApiError(
                    422,
                    "a rating needs a value from 1 to 5; nothing was stored",
                    where=f"body.events[{i}].value",
                    allowed="1..5",
                )
            stamp = event.timestamp.timestamp() if event.timestamp is not None else now
            events.append(
                Event(engine.user_key(event.user_id), event.item_id, event.type, stamp, event.value)
            )
        follower: Follower = request.app.state.follower
        with follower.write_lock:
            stored = follower.engine.record_events(events)
        for stored_event in events:
            request.app.state.metrics.events.labels(type=stored_event.type).inc()
        return EventsAccepted(accepted=stored)

    @app.get(
        "/v1/users/{user_id}/recommendations",
        response_model=ListOut,
        tags=["recommendations"],
        dependencies=[reader],
    )
    async def recommendations(
        user_id: UserId,
        engine: EngineDep,
        k: K = 10,
        exclude_seen: Annotated[bool, Query(description="Leave out items the shopper already met.")] = True,
        category: Annotated[str | None, Query(max_length=200, description="Only this category.")] = None,
    ) -> Response:
        # about a millisecond of work that mostly holds the GIL: run inline on the event loop rather
        # than pay a hand-over to the thread pool (search, which embeds text, stays there)
        started = time.perf_counter()
        results, personal = engine.recommend(user_id, k, exclude_seen, category)
        return _listing(engine, results, started, personal)

    @app.get(
        "/v1/items/{item_id}/similar", response_model=ListOut, tags=["recommendations"], dependencies=[reader]
    )
    async def similar(item_id: ItemId, engine: EngineDep, k: K = 10) -> Response:
        started = time.perf_counter()
        return _listing(engine, engine.similar(item_id, k), started)

    @app.get("/v1/search", response_model=ListOut, tags=["search"], dependencies=[reader])
    def search(
        engine: EngineDep,
        q: Annotated[str, Query(min_length=1, max_length=500, description="What the shopper typed.")],
        k: K = 10,
        user_id: Annotated[
            str | None, Query(pattern=ID_PATTERN, description="Blend in this shopper's taste.")
        ] = None,
    ) -> Response:
        started = time.perf_counter()
        if not q.strip():
            raise ApiError(
                422, "the query is blank", where="query.q", allowed="1..500 characters, not all spaces"
            )
        return _listing(engine, engine.search(q, k, user_id), started, personal=user_id is not None)

    @app.get("/v1/items/{item_id}", response_model=ItemOut, tags=["catalog"], dependencies=[reader])
    def get_item(item_id: ItemId, engine: EngineDep) -> ItemOut:
        row = engine.catalog.live_row(item_id)
        if row is None:
            raise ApiError(404, f"item {item_id!r} is not in the catalog", where="path.item_id")
        return ItemOut(**engine.item_json(row))

    @app.put("/v1/items/{item_id}", response_model=ItemStored, tags=["catalog"], dependencies=[writer])
    def put_item(request: Request, item_id: ItemId, body: ItemIn) -> ItemStored:
        record = ItemRecord(
            item_id=item_id,
            title=body.title,
            text="",
            category=body.category or "",
            brand=body.brand or "",
            price=body.price,
            available=body.available,
            attributes={**body.attributes, **({"description": body.description} if body.description else {})},
        )
        follower: Follower = request.app.state.follower
        with follower.write_lock:
            engine = follower.engine
            meta = engine.upsert_item(record)
        request.app.state.metrics.index_items.set(int(engine.catalog.alive.sum()))
        return ItemStored(
            item_id=item_id, recommendable=meta.recommendable, model_version=engine.runtime.version
        )

    @app.delete("/v1/items/{item_id}", response_model=Deleted, tags=["catalog"], dependencies=[writer])
    def delete_item(request: Request, item_id: ItemId) -> Deleted:
        follower: Follower = request.app.state.follower
        with follower.write_lock:
            engine = follower.engine
            if not engine.delete_item(item_id):
                raise ApiError(404, f"item {item_id!r} is not in the catalog", where="path.item_id")
        request.app.state.metrics.index_items.set(int(engine.catalog.alive.sum()))
        return Deleted(deleted=True)

    @app.get("/v1/users/{user_id}/profile", response_model=Profile, tags=["shoppers"], dependencies=[reader])
    def profile(user_id: UserId, engine: EngineDep) -> Profile:
        return Profile(**engine.profile(user_id))

    @app.delete("/v1/users/{user_id}", response_model=Deleted, tags=["shoppers"], dependencies=[admin])
    def delete_user(request: Request, user_id: UserId) -> Deleted:
        follower: Follower = request.app.state.follower
        with follower.write_lock:
            removed = follower.engine.delete_user(user_id)
        return Deleted(deleted=True, removed_events=removed)

    @app.post("/v1/admin/reload", response_model=Reloaded, tags=["operations"])
    def reload(
        request: Request,
        principal: Annotated[Principal, admin],
        body: Annotated[ReloadIn | None, Body()] = None,
    ) -> Reloaded:
        target = body.artifacts if body is not None and body.artifacts is not None else settings.artifacts
        if not (Path(target) / "config.json").exists():
            raise ApiError(422, f"{target} holds no semrec artifacts", where="body.artifacts")
        follower: Follower = request.app.state.follower
        try:
            engine, previous = follower.reload(Path(target))  # other workers follow from the log
        except ValueError as error:
            raise ApiError(422, str(error), where="body.artifacts") from None
        log.info(
            "reloaded %s -> %s by %s at %s",
            previous,
            engine.runtime.version,
            principal.name,
            datetime.now(UTC).isoformat(timespec="seconds"),
        )
        return Reloaded(
            model_version=engine.runtime.version,
            previous_version=previous,
            items=int(engine.catalog.alive.sum()),
        )


WORKER_INPUTS = "_SEMREC_WORKER_INPUTS"  # how `semrec serve --workers N` hands its inputs to each worker


def create_worker_app() -> FastAPI:
    """The app of one worker process: settings from the inputs `semrec serve` was given (config
    file and command-line values, as JSON in the environment), so every worker reads the same."""
    from semrec.api.settings import load_settings

    inputs = json.loads(os.environ[WORKER_INPUTS])
    config = inputs.get("config")
    settings = load_settings(Path(config) if config else None, **inputs["overrides"])
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(name)s %(message)s")
    return create_app(settings)
