"""One JSON error shape for every 4xx/5xx answer: what went wrong, where, and what is allowed.

{"error": {"status": 422, "code": "invalid_request", "message": "...",
           "details": [{"where": "body.events[0].type", "what": "...", "allowed": [...]}]}}
"""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from semrec.api.schemas import UNION_TAGS
from semrec.errors import ApiError

log = logging.getLogger("semrec.api")

CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "too_many_requests",
    503: "unavailable",
}


def error_body(status: int, message: str, details: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "error": {
            "status": status,
            "code": CODES.get(status, "error"),
            "message": message,
            "details": details or [],
        }
    }


def _where(location: tuple[Any, ...] | list[Any]) -> str:
    out = ""
    for i, part in enumerate(location):
        if i and isinstance(location[i - 1], int) and part in UNION_TAGS:
            continue  # body.events[0].rating.value reads body.events[0].value
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _allowed(error: dict[str, Any]) -> Any:
    context = error.get("ctx") or {}
    if "expected_tags" in context:
        return [tag.strip(" '") for tag in str(context["expected_tags"]).split(",")]
    if "ge" in context and "le" in context:
        return f"{context['ge']:g}..{context['le']:g}"
    for key in ("expected", "le", "ge", "lt", "gt", "max_length", "min_length", "pattern"):
        if key in context:
            value = context[key]
            return value if isinstance(value, (int, float, str, list)) else str(value)
    return None


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, error: ApiError) -> JSONResponse:
        return JSONResponse(
            error_body(error.status, error.message, error.details), error.status, headers=error.headers
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, error: RequestValidationError) -> JSONResponse:
        details = []
        for item in error.errors():
            location = list(item.get("loc", ()))
            context = item.get("ctx") or {}
            if item.get("type") in ("union_tag_invalid", "union_tag_not_found"):  # name the tag's field
                location.append(str(context.get("discriminator", "")).strip("'"))
            detail = {"where": _where(location), "what": str(item.get("msg", "invalid value"))}
            allowed = _allowed(item)
            if allowed is not None:
                detail["allowed"] = allowed
            details.append(detail)
        first = details[0] if details else {"where": "request", "what": "invalid"}
        message = f"{first['where']}: {first['what']}"
        return JSONResponse(error_body(422, message, details), 422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, error: StarletteHTTPException) -> JSONResponse:
        message = error.detail if isinstance(error.detail, str) else "request failed"
        return JSONResponse(error_body(error.status_code, message), error.status_code, headers=error.headers)

    @app.exception_handler(sqlite3.OperationalError)
    @app.exception_handler(psycopg.OperationalError)
    @app.exception_handler(psycopg.errors.ReadOnlySqlTransaction)  # a standby, or a read-only database
    async def _database(request: Request, error: Exception) -> JSONResponse:
        # a full disk, a read-only file, a database out of reach: the write was rolled back, and
        # the next request tries again (the server recovers by itself once the fault clears)
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        log.error("database unavailable on %s %s: %s", request.method, request.url.path, reason)
        return JSONResponse(
            error_body(503, f"the database cannot serve this now ({reason}); nothing was stored, try again"),
            503,
            headers={"Retry-After": "1"},
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return JSONResponse(error_body(500, "internal error; the request changed nothing it reported"), 500)
