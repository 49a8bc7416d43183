"""API keys with scopes. Keys are compared in constant time and never logged or echoed."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from fastapi import Request

from semrec.errors import ApiError
from semrec.settings import ApiKey, Scope

SCOPE_ATTRIBUTE = "semrec_scope"  # set on each route's dependency so tests can audit them


@dataclass(frozen=True)
class Principal:
    name: str
    scopes: frozenset[str]


class KeyRing:
    def __init__(self, keys: list[ApiKey], anonymous_scopes: list[Scope]) -> None:
        self._keys = [
            (k.key.get_secret_value().encode(), Principal(k.name, frozenset(k.scopes))) for k in keys
        ]
        self._anonymous = Principal("anonymous", frozenset(anonymous_scopes))

    def identify(self, presented: str | None) -> Principal | None:
        """The key's principal, the anonymous one when no key is given, None for a wrong key."""
        if presented is None:
            return self._anonymous
        candidate = presented.encode()
        found: Principal | None = None
        for secret, principal in self._keys:  # no early exit: time does not depend on which key
            if hmac.compare_digest(secret, candidate):
                found = principal
        return found


def presented_key(request: Request) -> str | None:
    key = request.headers.get("x-api-key")
    if key:
        return key
    authorization = request.headers.get("authorization", "")
    scheme, _, token = authorization.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _address(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


def require(scope: Scope) -> Callable[[Request], Awaitable[Principal]]:
    """A route dependency that lets a request through only with ``scope``."""

    # async: a plain function would cost every request a hop to the thread pool
    async def check(request: Request) -> Principal:
        ring: KeyRing = request.app.state.keyring
        presented = presented_key(request)
        principal = ring.identify(presented)
        if principal is None:
            raise ApiError(401, "the API key is not valid", headers={"WWW-Authenticate": "Bearer"})
        if scope not in principal.scopes:
            if presented is None:
                raise ApiError(
                    401,
                    f"this route needs an API key with the {scope!r} scope (X-API-Key header)",
                    headers={"WWW-Authenticate": "Bearer"},
                )
            raise ApiError(403, f"the API key lacks the {scope!r} scope", allowed=sorted(principal.scopes))
        caller = principal.name if presented is not None else f"anonymous@{_address(request)}"
        request.app.state.limits.take(caller, scope)
        return principal

    setattr(check, SCOPE_ATTRIBUTE, scope)
    return check
