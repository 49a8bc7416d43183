"""Shoppers: their recommendations, their profile, and erasure on request."""

import asyncio
import time
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from semrec.api.auth import require
from semrec.api.deps import EngineDep, ServedDep, UserId, Verified, follower, listing
from semrec.api.schemas import Deleted, Exported, ListOut, Profile
from semrec.online.ads import sponsored_for
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
        served: ServedDep,
        k: K = 10,
        exclude_seen: Annotated[bool, Query(description="Leave out items the shopper already met.")] = True,
        category: Annotated[str | None, Query(max_length=200, description="Only this category.")] = None,
        sponsored: Annotated[
            int,
            Query(
                ge=0,
                le=len(settings.ads_positions),
                description="Sponsored products blended in at the configured positions (ads_positions), "
                "each marked sponsored with the impression id its click must carry.",
            ),
        ] = 0,
        verified: Verified = False,
    ) -> Response:
        # about a millisecond of work that mostly holds the GIL: run inline on the event loop rather
        # than pay a hand-over to the thread pool (search, which embeds text, stays there); placing
        # ads commits to the ledger, which waits for the disk: the thread pool then
        started, engine = time.perf_counter(), served.engine
        if sponsored == 0:
            results, personal = engine.recommend(user_id, k, exclude_seen, category, verified)
            return listing(served, "recommendations", results, started, personal)
        results, personal, head = engine.recommend_with_head(user_id, k, exclude_seen, category, verified)
        placed = await asyncio.to_thread(sponsored_for, engine, user_id, head, min(sponsored, k))
        return listing(served, "recommendations", results, started, personal, placed, settings.ads_positions)

    @routes.get(
        "/v1/users/{user_id}/profile",
        response_model=Profile,
        tags=["shoppers"],
        dependencies=[Depends(require("read"))],
    )
    def profile(user_id: UserId, engine: EngineDep) -> Profile:
        return Profile(**engine.profile(user_id))

    @routes.get(
        "/v1/users/{user_id}/export",
        response_model=Exported,
        tags=["shoppers"],
        dependencies=[Depends(require("admin"))],
    )
    def export_user(served: ServedDep, user_id: UserId) -> Exported:
        """Everything stored about the shopper (the right of access), beside erasure."""
        engine = served.engine
        stored = engine.store.export_user(engine.user_key(user_id))
        return Exported(user_id=user_id, arm=served.arm, **stored)

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
