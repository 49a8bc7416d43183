"""What the server needs from a database, split by role: the catalog, shoppers' events, the change
log every worker follows, and small server metadata (the ads ledger: :mod:`semrec.store.ads`).
SQLite (:mod:`semrec.store.sqlite`) is the embedded implementation."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from semrec.schema import Event, Item
from semrec.store.ads import AdStore
from semrec.store.experiments import ExperimentStore


@dataclass(frozen=True)
class Change:
    """One committed write that every worker process applies to its in-memory engine, in ``seq`` order."""

    seq: int
    # item (upserted) | delete (item removed) | erase (a shopper's data erased) | reload | campaign
    kind: str
    key: str  # the item or campaign id, the artifact folder of a reload, "" for an erasure


def reload_key(artifacts: str, arm: str = "") -> str:
    """A reload entry's key: the artifact folder, prefixed by the A/B arm it is for ("" is the control)."""
    return f"@{arm}\t{artifacts}" if arm else artifacts


def split_reload_key(key: str) -> tuple[str, str]:
    """(arm, artifact folder) of a reload entry's key (:func:`reload_key`)."""
    if key.startswith("@") and "\t" in key:
        arm, _, artifacts = key[1:].partition("\t")
        return arm, artifacts
    return "", key


class ChangeLogPruned(Exception):
    """The change-log entries after the asked-for one were pruned: rebuild from the store instead."""


class ItemStore(Protocol):
    """The catalog: every write but seeding and vector refreshes is logged as a change."""

    def upsert_items(self, items: Iterable[Item]) -> list[int]: ...
    def seed_items(self, items: Iterable[Item]) -> int: ...
    def set_vectors(self, items: Iterable[Item]) -> None: ...
    def delete_item(self, item_id: str) -> bool: ...
    def get_item(self, item_id: str) -> Item | None: ...
    def all_items(self) -> list[Item]: ...
    def deleted_items(self) -> set[str]: ...
    def known_item_ids(self) -> set[str]: ...
    def search_text(self, query: str) -> dict[str, float]: ...


class EventStore(Protocol):
    """Shoppers' events under pseudonyms, each durable before it is acknowledged."""

    def add_events(self, events: list[Event]) -> int: ...
    def recent_events(self, user_key: str, limit: int) -> list[Event]: ...
    def delete_user(self, user_key: str) -> int: ...
    def export_user(self, user_key: str) -> dict[str, list[dict[str, Any]]]: ...
    def events_since(self, event_id: int) -> list[tuple[int, str]]: ...
    def event_log(self, after: int = 0) -> list[tuple[int, str, str, float]]: ...
    def last_event(self) -> int: ...
    def count_events(self) -> int: ...


class ChangeLog(Protocol):
    """The committed writes in commit order, which keeps every worker's engine in step."""

    def log_reload(self, artifacts: str, arm: str = "") -> int: ...
    def last_reload(self, arm: str = "") -> Change | None: ...
    def changes_since(self, seq: int) -> list[Change]: ...
    def prune_changes(self, older_than: float) -> int: ...
    def last_change(self) -> int: ...
    def data_version(self) -> int: ...


class Store(ItemStore, EventStore, ChangeLog, AdStore, ExperimentStore, Protocol):
    """Everything the server reads and writes, in one database."""

    def setdefault_meta(self, key: str, value: str) -> str: ...
    def close(self) -> None: ...
