"""The embedded SQLite store: WAL, durable events, pseudonymous shoppers, item tombstones."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import numpy as np

from semrec.serving.store import Event, ItemRecord, SQLiteStore


def test_events_are_on_disk_when_add_returns(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    assert store._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    store.add_events([Event("k1", "a", "view", 1.0), Event("k1", "b", "cart", 2.0)])
    other = sqlite3.connect(tmp_path / "s.db")  # a different connection, as after a crash
    assert other.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 2
    assert [e.item_id for e in store.recent_events("k1", 10)] == ["a", "b"]
    assert [e.item_id for e in store.recent_events("k1", 1)] == ["b"]
    assert store.delete_user("k1") == 2 and store.recent_events("k1", 10) == []


def test_a_failed_batch_stores_nothing(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    bad = Event("k1", None, "view", 1.0)  # type: ignore[arg-type]  # NOT NULL violation mid-batch
    with contextlib.suppress(sqlite3.IntegrityError):
        store.add_events([Event("k1", "a", "view", 1.0), bad])
    assert store.count_events() == 0


def test_items_round_trip_and_deletions_are_remembered(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    vector = np.arange(4, dtype=np.float32)
    store.upsert_items(
        [ItemRecord("a", "Rose", "Rose text", "Lips", "Glowa", 3.5, vector=vector, vector_key="m")]
    )
    item = store.get_item("a")
    assert item is not None and item.brand == "Glowa" and item.vector is not None
    assert np.array_equal(item.vector, vector)
    assert store.delete_item("a") and store.get_item("a") is None and store.deleted_items() == {"a"}
    store.upsert_items([ItemRecord("a", "Rose again")])
    assert store.deleted_items() == set()
    store.close()
    reopened = SQLiteStore(tmp_path / "s.db")
    assert [i.title for i in reopened.all_items()] == ["Rose again"]
