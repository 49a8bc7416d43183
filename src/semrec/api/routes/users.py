"""Shoppers: their recommendations, their profile, and erasure on request."""

import time
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from semrec.api.auth import require
from semrec.api.deps import EngineDep, UserId, follower, listing
from semrec.api.schemas import Deleted, ListOut, Profile
from semrec.settings import ServerSettings


def router(settings: ServerSettings) -> APIRouter:
    routes = APIRouter()
    K = Annotated[int, Query(ge=1, le=settings.max_k, description="How many items to return.")]

    @routes.get(
        "/v1/users/{user_id}/recommendations",
        response_model=ListOut,
        tags=["recommendations"],
        dependencies=[Depends(require("read"))],
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
        return listing(engine, results, started, personal)

    @routes.get(
        "/v1/users/{user_id}/profile",
        response_model=Profile,
        tags=["shoppers"],
        dependencies=[Depends(require("read"))],
    )
    def profile(user_id: UserId, engine: EngineDep) -> Profile:
        return Profile(**engine.profile(user_id))

    @routes.delete(
        "/v1/users/{user_id}",
        response_model=Deleted,
        tags=["shoppers"],
        dependencies=[Depends(require("admin"))],
    )
    def delete_user(request: Request, user_id: UserId) -> Deleted:
        process = follower(request)
        with process.write_lock:
            removed = process.engine.delete_user(user_id)
        return Deleted(deleted=True, removed_events=removed)

    return routes
