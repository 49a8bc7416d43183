"""The store contract, on both backends (SQLite, PostgreSQL): durable events, pseudonymous shoppers,
item tombstones, the change log in commit order, full-text search, group commit; then what only the
embedded SQLite store does (WAL, its own connections, databases of older versions)."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from semrec.data.words import COMMON_WORD_ITEMS
from semrec.schema import Event, Item
from semrec.store import open_store
from semrec.store.protocol import Change
from semrec.store.sql import SQLStore
from semrec.store.sqlite import SQLiteStore


def test_events_are_committed_when_add_returns(database: str) -> None:
    store = open_store(database)
    store.add_events([Event("k1", "a", "view", 1.0), Event("k1", "b", "cart", 2.0)])
    other = open_store(database)  # connections of its own, as another process or a restart has
    assert [e.item_id for e in other.recent_events("k1", 10)] == ["a", "b"]
    assert [e.item_id for e in store.recent_events("k1", 10)] == ["a", "b"]
    assert [e.item_id for e in store.recent_events("k1", 1)] == ["b"]
    assert store.delete_user("k1") == 2 and store.recent_events("k1", 10) == []
    assert store.erased_users() == {"k1"}  # the suppression list later training reads


def test_a_failed_batch_stores_nothing(database: str) -> None:
    store = open_store(database)
    bad = Event("k1", None, "view", 1.0)  # type: ignore[arg-type]  # NOT NULL violation mid-batch
    with pytest.raises(Exception, match=r"(?i)null"):
        store.add_events([Event("k1", "a", "view", 1.0), bad])
    assert store.count_events() == 0


def test_items_round_trip_and_deletions_are_remembered(database: str) -> None:
    store = open_store(database)
    vector = np.arange(4, dtype=np.float32)
    store.upsert_items([Item("a", "Rose", "Rose text", "Lips", "Glowa", 3.5, vector=vector, vector_key="m")])
    item = store.get_item("a")
    assert item is not None and item.brand == "Glowa" and item.vector is not None
    assert np.array_equal(item.vector, vector)
    assert store.delete_item("a") and store.get_item("a") is None and store.deleted_items() == {"a"}
    store.upsert_items([Item("a", "Rose again")])
    assert store.deleted_items() == set()
    store.upsert_items([Item("b", "Tea")])
    store.close()
    reopened = open_store(database)
    assert [i.title for i in reopened.all_items()] == ["Rose again", "Tea"]  # in the order added
    assert reopened.known_item_ids() == {"a", "b"}
    assert reopened.get_item("a").price is None  # type: ignore[union-attr]
    reopened.upsert_items([Item("a", "Rose", price=12.99)])
    assert reopened.get_item("a").price == 12.99  # type: ignore[union-attr]  # a price as given


def test_writes_are_logged_in_commit_order_and_seeding_logs_nothing(database: str) -> None:
    store = open_store(database)
    assert store.last_change() == 0
    store.upsert_items([Item("a", "Rose"), Item("b", "Tea")])
    store.delete_item("a")
    store.add_events([Event("k1", "b", "view", 1.0)])
    store.delete_user("k1")
    store.log_reload("/models/v2")
    changes = store.changes_since(0)
    assert [(c.kind, c.key) for c in changes] == [
        ("item", "a"),
        ("item", "b"),
        ("delete", "a"),
        ("erase", ""),  # no pseudonym kept in the log
        ("reload", "/models/v2"),
    ]
    assert [c.seq for c in changes] == sorted(c.seq for c in changes) and store.last_change() == changes[
        -1
    ].seq
    assert store.changes_since(changes[2].seq) == changes[3:]
    # seeding adds what is neither stored nor deleted, and tells no other worker (all seed the same)
    assert store.seed_items([Item("a", "Rose"), Item("b", "Other"), Item("c", "Mascara")]) == 1
    assert store.get_item("a") is None and store.deleted_items() == {"a"}  # stays deleted
    assert store.get_item("b").title == "Tea"  # type: ignore[union-attr]  # not overwritten
    assert store.get_item("c") is not None and store.last_change() == changes[-1].seq
    # a vector refresh never undoes a change made since the read it came from
    stale = store.get_item("b")
    assert stale is not None
    store.upsert_items([Item("b", "Tea", text="Tea, new text")])
    stale.vector, stale.vector_key = np.ones(4, dtype=np.float32), "other-encoder"
    store.set_vectors([stale, Item("a", "Rose", vector=np.ones(4, dtype=np.float32))])
    assert store.get_item("b").text == "Tea, new text"  # type: ignore[union-attr]
    assert store.get_item("b").vector is None and store.get_item("a") is None  # type: ignore[union-attr]
    assert store.deleted_items() == {"a"}


def test_event_ids_and_other_connections_commits_are_visible(
    database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("semrec.store.sql.EVENTS_PAGE", 2)  # events read back in pages of two
    store, other = open_store(database), open_store(database)
    before = other.data_version()
    store.add_events([Event("k1", "a", "view", 1.0), Event("k2", "b", "cart", 2.0)])
    assert other.data_version() != before  # the other connection learns that something committed
    assert [item for _, item in other.events_since(0)] == ["a", "b"]
    first = other.events_since(0)[0][0]
    assert other.events_since(first) == [(other.last_event(), "b")]
    version = store.data_version()
    store.add_events([Event("k1", "c", "view", 3.0), Event("k3", "d", "view", 4.0)])
    assert store.data_version() != version  # its own writer's commits count too (its reader reads them)
    assert [item for _, item in store.events_since(0)] == ["a", "b", "c", "d"]  # over two pages
    ids = [i for i, _ in store.events_since(0)]
    assert ids == sorted(ids) and store.events_since(ids[1]) == store.events_since(0)[2:]


def test_reads_do_not_wait_for_a_write_in_progress(database: str) -> None:
    import threading

    store = open_store(database)
    assert isinstance(store, SQLStore)
    store.add_events([Event("k1", "a", "view", 1.0)])
    read: list[list[str]] = []

    def look() -> None:
        read.append([e.item_id for e in store.recent_events("k1", 5)])

    with store._transaction() as db:  # a write under way: lock held, not yet committed (or fsync'd)
        db.execute("INSERT INTO events (user_key, item_id, type, ts) VALUES ('k1', 'b', 'view', 2.0)")
        reader = threading.Thread(target=look)
        reader.start()
        reader.join(timeout=5)
        assert read == [["a"]]  # answered meanwhile, from the last committed state
    assert [e.item_id for e in store.recent_events("k1", 5)] == ["a", "b"]  # and the commit once made


def test_processes_starting_at_once_agree_on_one_secret(database: str) -> None:
    import threading

    open_store(database).close()  # schema in place, as the first worker to open it leaves it
    barrier = threading.Barrier(6)
    got: list[str] = []

    def start(candidate: str) -> None:
        store = open_store(database)  # own connections, as each worker process has
        barrier.wait()
        got.append(store.setdefault_meta("pseudonym_secret", candidate))

    threads = [threading.Thread(target=start, args=(f"secret-{i}",)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(got) == 6 and len(set(got)) == 1 and got[0].startswith("secret-")


def test_the_embedded_store_is_in_wal_mode(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    assert store._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL: fsync'd at each commit
    store.add_events([Event("k1", "a", "view", 1.0)])
    other = sqlite3.connect(tmp_path / "s.db")  # a plain connection, as after a crash
    assert other.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 1


def test_concurrent_writers_share_commits_and_each_gets_its_own_outcome(database: str) -> None:
    import threading

    store = open_store(database)
    assert isinstance(store, SQLStore)
    start = threading.Barrier(33)
    failed: list[int] = []

    def send(client: int) -> None:
        start.wait()
        for n in range(20):
            item: Any = None if (client, n) == (7, 3) else f"i{client}"  # one bad batch, from client 7
            batch = [
                Event(f"k{client}", item, "view", float(n)),
                Event(f"k{client}", f"i{client}", "view", n + 0.5),
            ]
            try:
                store.add_events(batch)
            except Exception:
                failed.append(client)

    clients = [threading.Thread(target=send, args=(c,)) for c in range(32)]
    for client in clients:
        client.start()
    start.wait()
    for client in clients:
        client.join(timeout=120)
    assert failed == [7]  # only the sender of the bad batch is refused
    assert store.count_events() == 2 * (32 * 20 - 1)  # every other batch, whole
    assert len(store.recent_events("k7", 100)) == 2 * 19 and len(store.recent_events("k8", 100)) == 40
    group = store._events
    assert group.batches == 32 * 20 and group.commits < group.batches  # batches rode together


def test_without_group_commit_each_batch_is_a_transaction_of_its_own(tmp_path: Path) -> None:
    import threading

    store = SQLiteStore(tmp_path / "s.db", group_commit=False)
    clients = [
        threading.Thread(
            target=lambda c=c: [store.add_events([Event(f"k{c}", "a", "view", n)]) for n in range(10)]
        )
        for c in range(8)
    ]
    for client in clients:
        client.start()
    for client in clients:
        client.join(timeout=60)
    assert store.count_events() == 80 and store._events.commits == store._events.batches == 80


def test_a_database_url_names_its_backend(tmp_path: Path, postgres_url: str) -> None:
    from semrec.store.postgres import PostgresStore

    assert isinstance(open_store(f"sqlite:///{tmp_path / 'a.db'}"), SQLiteStore)
    assert isinstance(open_store(tmp_path / "b.db"), SQLiteStore) and (tmp_path / "b.db").exists()
    assert isinstance(open_store(postgres_url), PostgresStore)
    with pytest.raises(ValueError, match="'redis' is not supported"):
        open_store("redis://localhost/0")
    with pytest.raises(ConnectionError, match="cannot connect to the PostgreSQL database"):
        open_store(postgres_url.rsplit("/", 1)[0] + "/no_such_database")


def test_whole_table_reads_leave_the_answers_connection_free(tmp_path: Path) -> None:
    import threading

    store = SQLiteStore(tmp_path / "s.db")
    store.upsert_items([Item("a", "Rose"), Item("b", "Tea")])
    store.delete_item("b")
    got: list[object] = []

    def build() -> None:  # what a model build reads, while an answer holds the reader
        got.extend([[i.item_id for i in store.all_items()], store.known_item_ids(), store.deleted_items()])

    with store._read_lock:
        builder = threading.Thread(target=build)
        builder.start()
        builder.join(timeout=5)
        assert got == [["a"], {"a", "b"}, {"b"}]


def test_pruning_keeps_the_newest_entry_and_says_when_entries_were_lost(database: str) -> None:
    import time

    from semrec.store.protocol import ChangeLogPruned

    store = open_store(database)
    store.upsert_items([Item("a", "Rose"), Item("b", "Tea")])
    reload_seq = store.log_reload("/models/v2")
    store.delete_item("a")
    assert store.last_change() == 4
    assert store.prune_changes(time.time() - 3600) == 0  # nothing is that old
    assert store.prune_changes(time.time() + 1) == 3  # all but the newest
    assert [c.seq for c in store.changes_since(3)] == [4]  # an engine at 3 or later loses nothing
    assert store.changes_since(4) == []
    with contextlib.suppress(ChangeLogPruned):
        store.changes_since(2)  # entry 3 is gone: the caller must rebuild
        raise AssertionError("a pruned entry went unnoticed")
    assert store.last_change() == 4  # the sequence goes on from the newest
    assert store.last_reload() == Change(reload_seq, "reload", "/models/v2")  # kept beyond the log
    store.upsert_items([Item("c", "Soap")])
    assert [c.seq for c in store.changes_since(4)] == [5]


def test_full_text_search_follows_every_write_and_weighs_rare_words_more(database: str) -> None:
    store = open_store(database)
    store.upsert_items([Item("lip-1", "Velvet Rose Lipstick", brand="Glowa"), Item("lip-2", "Rose Lip Balm")])
    store.upsert_items([Item(f"tea-{i}", f"Rose Tea {i}") for i in range(6)])
    found = store.search_text("the velvet rose")  # "the" is a stopword
    assert len(found) == 8 and np.isclose(found["lip-1"], 1.0)  # it holds both words
    assert found["lip-2"] < 0.5  # "rose", in every item, weighs less than "velvet"
    velvet, tea = np.log(1 + 8 / 2), np.log(1 + 8 / 7)  # inverse document frequencies (8 items)
    shares = store.search_text("velvet tea")
    assert np.isclose(shares["lip-1"], velvet / (velvet + tea))
    assert np.isclose(shares["tea-0"], tea / (velvet + tea)) and len(shares) == 7
    shares = store.search_text("glowa balm")  # the brand is searched too
    assert np.isclose(shares["lip-1"], 0.5) and np.isclose(shares["lip-2"], 0.5)
    assert store.search_text("lip-2") == {"lip-2": 1.0}  # an id is one word
    assert np.isclose(store.search_text("velvet rose")["lip-1"], 1.0)

    store.upsert_items([Item("lip-1", "Matte Plum Lipstick", brand="Glowa")])  # a new title
    assert "lip-1" not in store.search_text("velvet") and "lip-1" in store.search_text("plum")
    store.set_vectors([Item("lip-1", "Matte Plum Lipstick", vector=np.ones(2, dtype=np.float32))])
    assert "lip-1" in store.search_text("plum")  # a vector refresh leaves the index as it was
    store.delete_item("lip-2")
    assert store.search_text("balm") == {}
    store.upsert_items([Item(f"more-{i}", f"Green Tea {i}") for i in range(COMMON_WORD_ITEMS)])
    assert store.search_text("tea") == {}  # a word of more than COMMON_WORD_ITEMS items brings none in
    assert set(store.search_text("tea 3")) == {"tea-3", "more-3"}


def test_a_database_written_before_full_text_search_is_indexed_when_opened(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    store.upsert_items([Item("lip-1", "Velvet Rose Lipstick")])
    store.close()
    old = sqlite3.connect(tmp_path / "s.db")  # as an older version left it: no full-text tables
    old.executescript(
        "DROP TRIGGER items_text_insert; DROP TRIGGER items_text_delete; DROP TRIGGER items_text_update;"
        "DROP TABLE items_vocab; DROP TABLE items_text;"
    )
    old.close()
    assert SQLiteStore(tmp_path / "s.db").search_text("velvet") == {"lip-1": 1.0}
