"""Search: what a shopper typed, by meaning and by words, optionally with their taste blended in."""

import re
import time
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from semrec.api.auth import require
from semrec.api.deps import ServedDep, Verified, listing
from semrec.api.schemas import ID_PATTERN, ListOut
from semrec.errors import ApiError
from semrec.settings import ServerSettings

# at least one character that is not a space, spaces as JSON Schema (ECMA-262) counts them, so the
# schema's pattern and the server agree on every character (Python's \s also takes \x1c-\x1f)
NOT_BLANK = "[^\\t\\n\\v\\f\\r \\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\ufeff]"


def router(settings: ServerSettings) -> APIRouter:
    routes = APIRouter()
    K = Annotated[int, Query(ge=1, le=settings.max_k, description="How many items to return.")]

    @routes.get(
        "/v1/search", response_model=ListOut, tags=["search"], dependencies=[Depends(require("read"))]
    )
    def search(
        served: ServedDep,
        q: Annotated[
            str,
            Query(
                min_length=1,
                max_length=500,
                pattern=NOT_BLANK,
                description="What the shopper typed (not only spaces).",
            ),
        ],
        k: K = 10,
        user_id: Annotated[
            str | None, Query(pattern=ID_PATTERN, description="Blend in this shopper's taste.")
        ] = None,
        verified: Verified = False,
    ) -> Response:
        started = time.perf_counter()
        if not re.search(NOT_BLANK, q):  # what the schema's pattern says
            raise ApiError(
                422, "the query is blank", where="query.q", allowed="1..500 characters, not all spaces"
            )
        results = served.engine.search(q, k, user_id, verified)
        return listing(served, "search", results, started, personal=user_id is not None)

    return routes
