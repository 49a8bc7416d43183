"""Administration: serving other artifacts without a restart (every worker follows)."""

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Request
from pydantic import BaseModel, Field

from semrec.api.auth import Principal, require
from semrec.api.deps import follower
from semrec.api.schemas import Reloaded
from semrec.errors import ApiError
from semrec.settings import ServerSettings

log = logging.getLogger("semrec.api")


class ReloadIn(BaseModel):
    artifacts: Path | None = Field(
        None, description="Artifact folder to serve instead (default: the current)."
    )


def router(settings: ServerSettings) -> APIRouter:
    routes = APIRouter()

    @routes.post("/v1/admin/reload", response_model=Reloaded, tags=["operations"])
    def reload(
        request: Request,
        principal: Annotated[Principal, Depends(require("admin"))],
        body: Annotated[ReloadIn | None, Body()] = None,
    ) -> Reloaded:
        target = body.artifacts if body is not None and body.artifacts is not None else settings.artifacts
        if not (Path(target) / "config.json").exists():
            raise ApiError(422, f"{target} holds no semrec artifacts", where="body.artifacts")
        try:
            engine, previous = follower(request).reload(Path(target))  # other workers follow the log
        except ValueError as error:
            raise ApiError(422, str(error), where="body.artifacts") from None
        log.info(
            "reloaded %s -> %s by %s at %s",
            previous,
            engine.runtime.version,
            principal.name,
            datetime.now(UTC).isoformat(timespec="seconds"),
        )
        return Reloaded(
            model_version=engine.runtime.version,
            previous_version=previous,
            items=int(engine.catalog.alive.sum()),
        )

    return routes
