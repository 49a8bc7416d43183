"""What every route module shares: the engine of the request, path parameters, the list answer."""

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import Response

from semrec.api.schemas import ID_PATTERN
from semrec.feedback.attribution import RequestIds
from semrec.online.ads import Sponsored
from semrec.online.engine import Engine
from semrec.online.experiment import Experiment
from semrec.online.follower import Follower
from semrec.schema import Scored


async def _engine(request: Request) -> Engine:
    return await follower(request).current_async()  # a request keeps the engine it started with


def follower(request: Request) -> Follower:
    """The process's follower: writes take its lock and go to its current engine."""
    found: Follower = request.app.state.follower
    return found


@dataclass(frozen=True)
class Served:
    """The engine of the A/B arm that serves this request's shopper, and that arm's name."""

    engine: Engine
    arm: str
    request_ids: RequestIds


async def _served(request: Request) -> Served:
    """The shopper is the path's ``user_id`` or the query's; an answer for no shopper comes from
    the control arm."""
    experiment: Experiment = request.app.state.experiment
    user_id = request.path_params.get("user_id") or request.query_params.get("user_id")
    user_key = None if user_id is None else follower(request).engine.user_key(str(user_id))
    arm = experiment.arm_of(user_key)
    return Served(await arm.follower.current_async(), arm.name, experiment.request_ids)


EngineDep = Annotated[Engine, Depends(_engine)]
ServedDep = Annotated[Served, Depends(_served)]
UserId = Annotated[str, PathParam(pattern=ID_PATTERN, description="The shopper's id.")]
ItemId = Annotated[str, PathParam(pattern=ID_PATTERN, description="The product's id.")]
Verified = Annotated[
    bool,
    Query(
        description="The shop has verified the shopper as an adult: age-restricted products may appear "
        "(blocked ones never do)."
    ),
]


def listing(
    served: Served,
    list_name: str,
    results: list[Scored],
    started: float,
    personal: bool = False,
    ads: Sequence[Sponsored] = (),
    positions: Sequence[int] = (),
) -> Response:
    """A ListOut document, serialised directly: the rows are built here from typed values, so a
    second validation pass by the framework would only add latency. ``ads`` take ``positions`` (in
    order; the list keeps its length, and an organic item that is also an ad is shown once, as the ad).
    The answer gets a request id (``list_name``, the arm, the model version and its length)."""
    engine = served.engine
    promoted = {ad.row for ad in ads}
    organic = [r for r in results if r.row not in promoted][: max(len(results) - len(ads), 0)]
    items = []
    for result in organic:
        item = engine.catalog.meta[result.row].as_json()
        item["score"], item["reason"], item["sponsored"] = round(result.score, 6), result.reason, False
        items.append(item)
    for ad, position in zip(ads, positions or range(len(ads)), strict=False):
        item = engine.catalog.meta[ad.row].as_json()
        item["score"], item["reason"], item["sponsored"] = round(ad.pctr, 6), "sponsored", True
        item["campaign_id"], item["impression_id"] = ad.campaign_id, ad.impression_id
        items.insert(min(position, len(items)), item)
    version = engine.runtime.version
    body = {
        "items": items,
        "personalized": personal,
        "model_version": version,
        "arm": served.arm,
        "request_id": served.request_ids.issue(list_name, served.arm, version, len(items)),
        "took_ms": round((time.perf_counter() - started) * 1000, 3),
    }
    return Response(json.dumps(body, allow_nan=False), media_type="application/json")
