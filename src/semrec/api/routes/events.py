"""Events: what shoppers did, stored durably before the answer, in the next answer of every worker."""

import time
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request

from semrec.api.auth import Principal, require
from semrec.api.deps import EngineDep
from semrec.api.schemas import EventIn, EventsAccepted, EventsIn, events_body
from semrec.errors import ApiError
from semrec.feedback.attribution import RequestIds
from semrec.online.engine import Engine
from semrec.schema import Attribution, Event
from semrec.settings import ServerSettings


def checked_events(
    body: EventsIn,
    engine: Engine,
    settings: ServerSettings,
    request_ids: RequestIds,
    source: str | None = None,
) -> list[Event]:
    """The request's events as stored (shoppers under their pseudonyms, ``source`` the sending
    key's name), or a clear error naming the first event the server refuses: then nothing is stored."""
    if len(body.events) > settings.max_events_per_request:  # the route's schema says so too
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
                404,
                f"item {event.item_id!r} is not in the catalog; nothing was stored",
                where=f"body.events[{i}].item_id",
                allowed="an item_id of the catalog (PUT /v1/items/{item_id} adds one)",
            )
        given = event.timestamp
        if isinstance(given, datetime):
            stamp = (given if given.tzinfo else given.replace(tzinfo=UTC)).timestamp()
        else:
            stamp = now if given is None else float(given)
        user = engine.user_key(event.user_id)
        if event.impression_id is not None:
            shown = engine.store.impression(event.impression_id)
            if shown is None or shown.user_key != user or shown.item_id != event.item_id:
                raise ApiError(
                    404,
                    f"impression {event.impression_id!r} was not shown to this shopper for item "
                    f"{event.item_id!r}; nothing was stored",
                    where=f"body.events[{i}].impression_id",
                    allowed="the impression_id of a sponsored item this shopper was shown, with its item_id",
                )
        attribution = _attribution(event, i, request_ids)
        events.append(
            Event(
                user, event.item_id, event.type, stamp, event.value, event.impression_id, attribution, source
            )
        )
    return events


def _attribution(event: EventIn, i: int, request_ids: RequestIds) -> Attribution | None:
    if event.request_id is None and event.position is None:
        return None
    if event.request_id is None or event.position is None:  # the schema says so too
        raise ApiError(
            422,
            "request_id and position go together; nothing was stored",
            where=f"body.events[{i}]",
            allowed="both (the answer's request_id and the item's position in it) or neither",
        )
    answer = request_ids.read(event.request_id)
    if answer is None:
        raise ApiError(
            404,
            f"request_id {event.request_id!r} was not issued by this server; nothing was stored",
            where=f"body.events[{i}].request_id",
            allowed="the request_id of an answer (recommendations, similar, search, ads)",
        )
    if event.position >= answer.shown:
        raise ApiError(
            422,
            f"position {event.position} is beyond that answer's {answer.shown} items; nothing was stored",
            where=f"body.events[{i}].position",
            allowed=f"0..{answer.shown - 1}" if answer.shown else "none: that answer held no items",
        )
    return Attribution(answer.request_id, event.position, answer.list, answer.arm, answer.model)


def router(settings: ServerSettings) -> APIRouter:
    routes = APIRouter(tags=["events"])

    Batch = events_body(settings.max_events_per_request)

    @routes.post("/v1/events", response_model=EventsAccepted)
    def post_events(
        request: Request,
        body: Batch,  # type: ignore[valid-type]
        engine: EngineDep,
        caller: Annotated[Principal, Depends(require("write"))],
    ) -> EventsAccepted:
        source = caller.name  # a key's name, or "anonymous" (which no key may be named)
        ids = request.app.state.experiment.request_ids
        events = checked_events(body, engine, settings, ids, source)
        # durable before the answer, and outside the worker's write lock, so concurrent requests
        # share one commit (an engine swapped in meanwhile catches up before its first answer)
        stored = engine.record_events(events)
        for event in events:
            request.app.state.metrics.events.labels(type=event.type).inc()
        return EventsAccepted(accepted=stored)

    return routes
