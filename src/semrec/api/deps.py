"""What every route module shares: the engine of the request, path parameters, the list answer."""

import json
import time
from typing import Annotated

from fastapi import Depends, Request
from fastapi import Path as PathParam
from fastapi.responses import Response

from semrec.api.schemas import ID_PATTERN
from semrec.online.engine import Engine
from semrec.online.follower import Follower
from semrec.schema import Scored


async def _engine(request: Request) -> Engine:
    return await follower(request).current_async()  # a request keeps the engine it started with


def follower(request: Request) -> Follower:
    """The process's follower: writes take its lock and go to its current engine."""
    found: Follower = request.app.state.follower
    return found


EngineDep = Annotated[Engine, Depends(_engine)]
UserId = Annotated[str, PathParam(pattern=ID_PATTERN, description="The shopper's id.")]
ItemId = Annotated[str, PathParam(pattern=ID_PATTERN, description="The product's id.")]


def listing(engine: Engine, results: list[Scored], started: float, personal: bool = False) -> Response:
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
