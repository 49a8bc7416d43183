"""The A/B test a server runs: one follower (engine) per arm, the shoppers' assignment, the request
ids of the answers, and the report over what every worker and node stored."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from semrec.feedback.arms import ArmPlan, Assignment
from semrec.feedback.attribution import RequestIds
from semrec.feedback.report import experiment_report, metric_rows
from semrec.online.follower import Follower
from semrec.store.experiments import ExposureRow
from semrec.store.protocol import Store

log = logging.getLogger("semrec.online")


@dataclass
class Arm:
    name: str
    share: float
    follower: Follower


class Experiment:
    def __init__(self, name: str, arms: list[Arm], secret: bytes, store: Store) -> None:
        self.name = name
        self.arms = {arm.name: arm for arm in arms}
        self.assignment = Assignment(name, [ArmPlan(a.name, a.share) for a in arms], secret)
        self.request_ids = RequestIds(secret)
        self._store = store
        self.refresh()

    @property
    def control(self) -> Arm:
        return self.arms[self.assignment.control]

    def arm_of(self, user_key: str | None) -> Arm:
        """The arm serving the shopper (the control for an answer that names no shopper)."""
        if user_key is None or len(self.arms) == 1:
            return self.control
        return self.arms[self.assignment.assign(user_key)]

    def refresh(self) -> None:
        """Reads which arms are stopped (another worker or node may have stopped one)."""
        stored = self._store.stopped_arms(self.name) & set(self.arms)
        self.assignment.set_stopped(stored - {self.assignment.control})

    def set_running(self, arm: str, running: bool) -> None:
        """Stops (its shoppers go to the control) or restarts an arm, for every worker and node."""
        if arm not in self.arms:
            raise KeyError(arm)
        if arm == self.assignment.control and not running:
            raise ValueError(f"the control arm {arm!r} cannot be stopped")
        stopped = self._store.stopped_arms(self.name) & set(self.arms)
        stopped = stopped - {arm} if running else stopped | {arm}
        self._store.set_stopped_arms(self.name, stopped)
        self.assignment.set_stopped(stopped)

    def flush(self) -> None:
        """Adds this worker's answer counts to the database (kept for the next try if that fails)."""
        taken = self.request_ids.take()
        if not taken:
            return
        try:
            self._store.add_exposures(
                ExposureRow(e.arm, e.list, e.model, e.model_version, answers, items)
                for e, answers, items in taken
            )
        except BaseException:
            self.request_ids.give_back(taken)
            raise

    def describe(self) -> list[dict[str, Any]]:
        stopped = self.assignment.stopped
        out = []
        for arm in self.arms.values():
            engine = arm.follower.engine
            out.append(
                {
                    "name": arm.name,
                    "share": arm.share,
                    "running": arm.name not in stopped,
                    "artifacts": str(Path(engine.runtime.directory)),
                    "model_version": engine.runtime.version,
                }
            )
        return out

    def report(self) -> dict[str, Any]:
        """Each arm's figures over every worker and node (this worker's latest counts included)."""
        self.flush()
        return experiment_report(
            self.name, self.describe(), self._store.exposures(), self._store.attributed_actions()
        )

    def metric_rows(self) -> list[tuple[str, str, str, dict[str, Any]]]:
        self.flush()
        return metric_rows(self._store.exposures(), self._store.attributed_actions())
