"""The error a client can act on, raised by the engine and the API alike: its HTTP status, what went
wrong, where, and what is allowed (rendered in one shape by :mod:`semrec.api.errors`)."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error the client can act on; rendered in the one error shape."""

    def __init__(
        self,
        status: int,
        message: str,
        where: str | None = None,
        allowed: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.details: list[dict[str, Any]] = []
        if where is not None or allowed is not None:
            detail: dict[str, Any] = {"where": where or "request", "what": message}
            if allowed is not None:
                detail["allowed"] = allowed
            self.details.append(detail)
        self.headers = headers
