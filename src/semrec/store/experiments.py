"""The A/B experiments' part of the store: answers shown per arm, list and model version
(exposures), the events that name the answer they followed (attributions), and stopped arms.

Both tables hold counts and pseudonymous links only; erasing a shopper removes their attributions
with their events.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from semrec.schema import Event
from semrec.store.dbapi import Connection

EXPERIMENT_SCHEMA = """
CREATE TABLE IF NOT EXISTS exposures (
    arm TEXT NOT NULL,
    answer_list TEXT NOT NULL,
    model TEXT NOT NULL,
    model_version TEXT NOT NULL,
    answers BIGINT NOT NULL DEFAULT 0,
    items BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (arm, answer_list, model)
);
CREATE TABLE IF NOT EXISTS attributions (
    event_id BIGINT PRIMARY KEY,
    request_id TEXT NOT NULL,
    slot INTEGER NOT NULL,
    type TEXT NOT NULL,
    arm TEXT NOT NULL,
    answer_list TEXT NOT NULL,
    model TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS attributions_by_arm ON attributions (arm, answer_list, model, type);
"""


@dataclass(frozen=True)
class ExposureRow:
    """Answers (and the items in them) one arm's model showed in one list."""

    arm: str
    list: str
    model: str
    model_version: str
    answers: int
    items: int


@dataclass(frozen=True)
class ActionRow:
    """Distinct (answer, position) pairs that an event of ``type`` named, per arm, list and model."""

    arm: str
    list: str
    model: str
    type: str
    count: int


class ExperimentStore(Protocol):
    def add_exposures(self, rows: Iterable[ExposureRow]) -> None: ...
    def exposures(self) -> list[ExposureRow]: ...
    def attributed_actions(self) -> list[ActionRow]: ...
    def stopped_arms(self, experiment: str) -> set[str]: ...
    def set_stopped_arms(self, experiment: str, arms: set[str]) -> None: ...


class ExperimentTables:
    """The experiments' part of the store (:class:`~semrec.store.sql.SQLStore` supplies the
    transaction and the reads, on either backend)."""

    def _transaction(self) -> AbstractContextManager[Connection]:
        raise NotImplementedError

    def _query(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def add_exposures(self, rows: Iterable[ExposureRow]) -> None:
        """Adds the counts to the stored ones, in one transaction."""
        rows = [r for r in rows if r.answers or r.items]
        if not rows:
            return
        with self._transaction() as db:
            db.executemany(
                "INSERT INTO exposures (arm, answer_list, model, model_version, answers, items) "
                "VALUES (?,?,?,?,?,?) ON CONFLICT(arm, answer_list, model) DO UPDATE SET "
                "answers = exposures.answers + excluded.answers, items = exposures.items + excluded.items",
                [(r.arm, r.list, r.model, r.model_version, r.answers, r.items) for r in rows],
            )

    def exposures(self) -> list[ExposureRow]:
        rows = self._query("SELECT arm, answer_list, model, model_version, answers, items FROM exposures")
        return [ExposureRow(str(a), str(b), str(c), str(d), int(e), int(f)) for a, b, c, d, e, f in rows]

    def attributed_actions(self) -> list[ActionRow]:
        rows = self._query(
            "SELECT arm, answer_list, model, type, "
            "COUNT(DISTINCT request_id || ':' || CAST(slot AS TEXT)) FROM attributions "
            "GROUP BY arm, answer_list, model, type"
        )
        return [ActionRow(str(a), str(b), str(c), str(d), int(e)) for a, b, c, d, e in rows]

    @staticmethod
    def _attribute(db: Connection, event_ids: list[int], events: list[Event]) -> None:
        """Inside the events' transaction: the attributed ones' links to their answers."""
        rows = [
            (i, a.request_id, a.position, e.type, a.arm, a.list, a.model)
            for i, e in zip(event_ids, events, strict=True)
            if (a := e.attribution) is not None
        ]
        if rows:
            db.executemany(
                "INSERT INTO attributions (event_id, request_id, slot, type, arm, answer_list, model) "
                "VALUES (?,?,?,?,?,?,?)",
                rows,
            )

    def stopped_arms(self, experiment: str) -> set[str]:
        rows = self._query("SELECT value FROM meta WHERE key = ?", (f"stopped_arms:{experiment}",))
        return set(json.loads(rows[0][0])) if rows else set()

    def set_stopped_arms(self, experiment: str, arms: set[str]) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT INTO meta VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (f"stopped_arms:{experiment}", json.dumps(sorted(arms))),
            )
