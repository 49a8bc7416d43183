"""Administration: serving other artifacts without a restart (every worker follows)."""

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field

from semrec.api.auth import Principal, require
from semrec.api.schemas import Reloaded
from semrec.errors import ApiError
from semrec.feedback.arms import ARM_PATTERN
from semrec.online.experiment import Experiment
from semrec.settings import ServerSettings

log = logging.getLogger("semrec.api")


class ReloadIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    artifacts: Path | None = Field(
        None, strict=False, description="Artifact folder to serve instead (default: the current)."
    )
    arm: str | None = Field(
        None, pattern=ARM_PATTERN, description="The A/B arm to reload (default: the control)."
    )


ArmName = Annotated[str, PathParam(pattern=ARM_PATTERN, description="The arm's name.")]


def router(settings: ServerSettings) -> APIRouter:
    routes = APIRouter()

    @routes.post("/v1/admin/reload", response_model=Reloaded, tags=["operations"])
    def reload(
        request: Request,
        principal: Annotated[Principal, Depends(require("admin"))],
        body: Annotated[ReloadIn | None, Body()] = None,
    ) -> Reloaded:
        experiment: Experiment = request.app.state.experiment
        name = body.arm if body is not None and body.arm is not None else experiment.control.name
        if name not in experiment.arms:
            raise ApiError(
                404, f"no arm named {name!r}", where="body.arm", allowed=", ".join(experiment.arms)
            )
        process = experiment.arms[name].follower
        target = (
            process.engine.runtime.directory if body is None or body.artifacts is None else body.artifacts
        )
        if not (Path(target) / "config.json").exists():
            raise ApiError(404, f"{target} holds no semrec artifacts", where="body.artifacts")
        try:
            engine, previous = process.reload(Path(target))  # other workers follow the log
        except ValueError as error:  # artifacts that cannot replace the served ones
            raise ApiError(409, str(error), where="body.artifacts") from None
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

    @routes.get("/v1/admin/experiments", tags=["experiments"], dependencies=[Depends(require("admin"))])
    def experiments(request: Request) -> dict[str, Any]:
        """Each arm's answers, impressions, clicks, carts, purchases, CTR and conversion (per item
        shown, with 95% intervals), per list and per model version, over every worker and node;
        and each arm against the control: the difference and its p-value."""
        experiment: Experiment = request.app.state.experiment
        return experiment.report()

    def set_running(request: Request, arm: str, running: bool) -> dict[str, Any]:
        experiment: Experiment = request.app.state.experiment
        try:
            experiment.set_running(arm, running)
        except KeyError:
            raise ApiError(404, f"no arm named {arm!r}", where="path.arm") from None
        except ValueError as error:
            raise ApiError(409, str(error), where="path.arm") from None
        log.info("arm %s of experiment %s %s", arm, experiment.name, "started" if running else "stopped")
        return {"arms": experiment.describe()}

    @routes.post(
        "/v1/admin/experiments/arms/{arm}/stop",
        tags=["experiments"],
        dependencies=[Depends(require("admin"))],
    )
    def stop_arm(request: Request, arm: ArmName) -> dict[str, Any]:
        """Stops an arm at once, on every worker and node within a second: its shoppers go to the
        control; nothing else changes."""
        return set_running(request, arm, False)

    @routes.post(
        "/v1/admin/experiments/arms/{arm}/start",
        tags=["experiments"],
        dependencies=[Depends(require("admin"))],
    )
    def start_arm(request: Request, arm: ArmName) -> dict[str, Any]:
        """Starts a stopped arm again: its shoppers come back to it."""
        return set_running(request, arm, True)

    return routes
