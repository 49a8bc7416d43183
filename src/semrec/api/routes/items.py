"""The catalog: products read, added or changed (embedded at once) and deleted, and similar products."""

import time
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from semrec.api.auth import require
from semrec.api.deps import EngineDep, ItemId, ServedDep, Verified, follower, listing
from semrec.api.schemas import ID_PATTERN, Deleted, ItemIn, ItemOut, ItemStored, ListOut
from semrec.errors import ApiError
from semrec.schema import Item
from semrec.settings import ServerSettings


def router(settings: ServerSettings) -> APIRouter:
    routes = APIRouter()
    K = Annotated[int, Query(ge=1, le=settings.max_k, description="How many items to return.")]
    reader, writer = Depends(require("read")), Depends(require("write"))

    @routes.get(
        "/v1/items/{item_id}/similar", response_model=ListOut, tags=["recommendations"], dependencies=[reader]
    )
    async def similar(
        item_id: ItemId,
        served: ServedDep,
        k: K = 10,
        user_id: Annotated[
            str | None,
            Query(pattern=ID_PATTERN, description="The shopper who looks (picks their A/B arm)."),
        ] = None,
        verified: Verified = False,
    ) -> Response:
        started = time.perf_counter()
        return listing(served, "similar", served.engine.similar(item_id, k, verified), started)

    @routes.get("/v1/items/{item_id}", response_model=ItemOut, tags=["catalog"], dependencies=[reader])
    def get_item(item_id: ItemId, engine: EngineDep) -> ItemOut:
        row = engine.catalog.live_row(item_id)
        if row is None:
            raise ApiError(404, f"item {item_id!r} is not in the catalog", where="path.item_id")
        return ItemOut(**engine.catalog.meta[row].as_json())

    @routes.put("/v1/items/{item_id}", response_model=ItemStored, tags=["catalog"], dependencies=[writer])
    def put_item(request: Request, item_id: ItemId, body: ItemIn) -> ItemStored:
        item = Item(
            item_id=item_id,
            title=body.title,
            text="",
            category=body.category or "",
            brand=body.brand or "",
            price=body.price,
            available=body.available,
            attributes={**body.attributes, **({"description": body.description} if body.description else {})},
        )
        process = follower(request)
        with process.write_lock:
            engine = process.engine
            recommendable = engine.upsert_item(item)
        request.app.state.metrics.index_items.set(int(engine.catalog.alive.sum()))
        return ItemStored(item_id=item_id, recommendable=recommendable, model_version=engine.runtime.version)

    @routes.delete("/v1/items/{item_id}", response_model=Deleted, tags=["catalog"], dependencies=[writer])
    def delete_item(request: Request, item_id: ItemId) -> Deleted:
        process = follower(request)
        with process.write_lock:
            engine = process.engine
            if not engine.delete_item(item_id):
                raise ApiError(404, f"item {item_id!r} is not in the catalog", where="path.item_id")
        request.app.state.metrics.index_items.set(int(engine.catalog.alive.sum()))
        return Deleted(deleted=True)

    return routes
