"""The API contract: every status an operation can answer, documented in the OpenAPI schema with
the one error shape, and methods answered as RFC 9110 asks (405 and OPTIONS with a true ``Allow``)."""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from starlette.types import ASGIApp, Receive, Scope, Send

from semrec.api.errors import error_body

WHY = {
    400: "The body is not valid JSON.",
    401: "No API key, or not a valid one (and the route is not open to anonymous callers).",
    403: "The API key lacks the route's scope.",
    404: "What the request names (in its path or body) does not exist.",
    409: "The request conflicts with what the server serves now.",
    413: "The body (or the batch in it) is larger than the server's limit.",
    422: "The request breaks a rule of this schema; nothing was changed.",
    429: "Too many requests from this API key: wait `Retry-After` seconds.",
    503: "The server cannot serve now (the database is unavailable or full, or this worker is "
    "rebuilding its model); nothing was changed. Try again.",
}

# what an operation answers beyond its scope, body and parameter checks, named by its handler
OWN_ERRORS: dict[tuple[str, str], tuple[int, ...]] = {
    ("post", "/v1/events"): (404,),  # an item, impression or answer it names
    ("get", "/v1/items/{item_id}"): (404,),
    ("delete", "/v1/items/{item_id}"): (404,),
    ("get", "/v1/items/{item_id}/similar"): (404,),
    ("get", "/v1/users/{user_id}/recommendations"): (409,),  # ads asked of a model without a ranker
    ("get", "/v1/users/{user_id}/ads"): (409,),
    ("put", "/v1/campaigns/{campaign_id}"): (404,),
    ("get", "/v1/campaigns/{campaign_id}"): (404,),
    ("delete", "/v1/campaigns/{campaign_id}"): (404,),
    ("post", "/v1/admin/reload"): (404, 409),
    ("post", "/v1/admin/experiments/arms/{arm}/stop"): (404, 409),
    ("post", "/v1/admin/experiments/arms/{arm}/start"): (404, 409),
}

ERROR_SCHEMA: dict[str, Any] = {
    "title": "Error",
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["status", "code", "message", "details"],
            "properties": {
                "status": {"type": "integer"},
                "code": {"type": "string"},
                "message": {"type": "string", "description": "What went wrong."},
                "details": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["where", "what"],
                        "properties": {
                            "where": {"type": "string", "description": "e.g. body.events[0].item_id"},
                            "what": {"type": "string"},
                            "allowed": {"description": "What is allowed there."},
                        },
                    },
                },
            },
        }
    },
}


def statuses(method: str, path: str, operation: dict[str, Any], public: tuple[str, ...]) -> set[int]:
    codes = {503, *OWN_ERRORS.get((method, path), ())}
    if path not in public:
        codes |= {401, 403, 429}
    if operation.get("parameters") or "requestBody" in operation:
        codes.add(422)
    if "requestBody" in operation:
        codes |= {400, 413}
    return codes


def install_contract(app: FastAPI, public: tuple[str, ...]) -> None:
    """Documents every error status of every operation, with headers (Allow, Retry-After)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        schema.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
        reference = {"$ref": "#/components/schemas/Error"}
        for path, operations in schema.get("paths", {}).items():
            for method, operation in operations.items():
                responses = operation.setdefault("responses", {})
                for code in sorted(statuses(method, path, operation, public)):
                    answer: dict[str, Any] = {
                        "description": WHY[code],
                        "content": {"application/json": {"schema": reference}},
                    }
                    if code == 429:
                        answer["headers"] = {
                            "Retry-After": {
                                "description": "Seconds until the key may ask again.",
                                "schema": {"type": "integer", "minimum": 1},
                            }
                        }
                    responses[str(code)] = answer  # FastAPI's own 422 takes the one error shape too
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


class AllowedMethods:
    """405 with ``Allow`` naming every method of the path (the router names only its first route's),
    and ``OPTIONS`` answered with the same ``Allow``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._paths: list[tuple[re.Pattern[str], set[str]]] | None = None

    def _methods(self, scope: Scope) -> set[str]:
        if self._paths is None:  # the documented paths: the contract is what Allow must tell
            self._paths = [
                (
                    re.compile("^" + re.sub(r"\\{[^/]+?\\}", "[^/]+", re.escape(path)) + "$"),
                    {method.upper() for method in operations},
                )
                for path, operations in scope["app"].openapi().get("paths", {}).items()
            ]
        methods: set[str] = set()
        for pattern, allowed in self._paths:
            if pattern.match(scope["path"]):
                methods |= allowed
        return methods

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        methods = self._methods(scope)
        method = scope["method"]
        if not methods or method in methods:
            await self.app(scope, receive, send)
            return
        allow = ", ".join(sorted(methods | {"OPTIONS"})).encode()
        if method == "OPTIONS":
            await send({"type": "http.response.start", "status": 204, "headers": [(b"allow", allow)]})
            await send({"type": "http.response.body", "body": b""})
            return
        body = json.dumps(
            error_body(405, f"{method} is not allowed here; this path answers {allow.decode()}")
        ).encode()
        headers = [
            (b"allow", allow),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
        await send({"type": "http.response.start", "status": 405, "headers": headers})
        await send({"type": "http.response.body", "body": body})
