"""One JSON error shape for every 4xx/5xx answer: what went wrong, where, and what is allowed.

{"error": {"status": 422, "code": "invalid_request", "message": "...",
           "details": [{"where": "body.events[0].type", "what": "...", "allowed": [...]}]}}
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

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
    for part in location:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _allowed(error: dict[str, Any]) -> Any:
    context = error.get("ctx") or {}
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
            detail = {"where": _where(item.get("loc", ())), "what": str(item.get("msg", "invalid value"))}
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

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return JSONResponse(error_body(500, "internal error; the request changed nothing it reported"), 500)
