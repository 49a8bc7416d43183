"""The embedded store: SQLite in WAL mode for the catalog, shoppers' events and server metadata.

An event is committed (fsync'd, ``synchronous=FULL``) before :meth:`SQLiteStore.add_events` returns,
so whatever the API acknowledged survives a crash. Shoppers are kept under pseudonyms only.
"""

from __future__ import annotations

import json
import math
import sqlite3
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from semrec.data.words import COMMON_WORD_ITEMS, STOPWORDS, words
from semrec.schema import Event, Item
from semrec.store.ads import ADS_SCHEMA, AdTables
from semrec.store.protocol import Change, ChangeLogPruned

SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    item_id TEXT PRIMARY KEY,
    title TEXT NOT NULL DEFAULT '',
    text TEXT NOT NULL DEFAULT '',
    category TEXT NOT NULL DEFAULT '',
    brand TEXT NOT NULL DEFAULT '',
    price REAL,
    available INTEGER NOT NULL DEFAULT 1,
    attributes TEXT NOT NULL DEFAULT '{}',
    vector BLOB,
    vector_key TEXT NOT NULL DEFAULT '',
    updated REAL NOT NULL
);
-- the lexical part of search: FTS5 over the items' ids, titles and brands, kept in step by triggers
CREATE VIRTUAL TABLE IF NOT EXISTS items_text USING fts5(
    item_id, title, brand, content='items', content_rowid='rowid',
    tokenize="unicode61 remove_diacritics 0 tokenchars '-_'"
);
CREATE VIRTUAL TABLE IF NOT EXISTS items_vocab USING fts5vocab(items_text, 'row');
CREATE TRIGGER IF NOT EXISTS items_text_insert AFTER INSERT ON items BEGIN
    INSERT INTO items_text (rowid, item_id, title, brand)
    VALUES (new.rowid, new.item_id, new.title, new.brand);
END;
CREATE TRIGGER IF NOT EXISTS items_text_delete AFTER DELETE ON items BEGIN
    INSERT INTO items_text (items_text, rowid, item_id, title, brand)
    VALUES ('delete', old.rowid, old.item_id, old.title, old.brand);
END;
CREATE TRIGGER IF NOT EXISTS items_text_update AFTER UPDATE OF item_id, title, brand ON items BEGIN
    INSERT INTO items_text (items_text, rowid, item_id, title, brand)
    VALUES ('delete', old.rowid, old.item_id, old.title, old.brand);
    INSERT INTO items_text (rowid, item_id, title, brand)
    VALUES (new.rowid, new.item_id, new.title, new.brand);
END;
CREATE TABLE IF NOT EXISTS deleted_items (item_id TEXT PRIMARY KEY, deleted REAL NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_key TEXT NOT NULL,
    item_id TEXT NOT NULL,
    type TEXT NOT NULL,
    ts REAL NOT NULL,
    value REAL
);
CREATE INDEX IF NOT EXISTS events_by_user ON events (user_key, ts, id);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    at REAL NOT NULL
);
"""
ITEM_COLUMNS = "(?,?,?,?,?,?,?,?,?,?,?)"


class SQLiteStore(AdTables):
    """A writer and a reader connection, each behind its own lock. In WAL mode a read never waits
    for a write, so answers go on while an acknowledged event is being fsync'd; each read sees
    every commit made before it started (read-your-writes)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._write_lock = threading.Lock()
        self._db = self._connect()
        self._db.execute("PRAGMA journal_mode=WAL")  # kept in the file: the reader opens it in WAL
        self._db.execute("PRAGMA synchronous=FULL")  # the commit is on disk before we acknowledge
        indexed = self._db.execute("SELECT 1 FROM sqlite_master WHERE name = 'items_text'").fetchone()
        self._db.executescript(SCHEMA + ADS_SCHEMA)
        if indexed is None:  # a database written before search moved into it: index what it holds
            self._db.execute("INSERT INTO items_text (items_text) VALUES ('rebuild')")
        self._read_lock = threading.Lock()
        self._reader = self._connect()

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA busy_timeout=5000")
        return db

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._write_lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _query(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._read_lock:  # autocommit: each statement reads the latest committed state
            return self._reader.execute(sql, args).fetchall()

    def _bulk_query(self, sql: str) -> list[tuple[Any, ...]]:
        """A whole-table read (a model build's, seconds at a million items) on a connection of its
        own, so the answers' reads never queue behind it."""
        db = self._connect()
        try:
            return db.execute(sql).fetchall()
        finally:
            db.close()

    # catalog
    @staticmethod
    def _rows(items: Iterable[Item], now: float) -> list[tuple[Any, ...]]:
        return [
            (
                i.item_id,
                i.title,
                i.text,
                i.category,
                i.brand,
                i.price,
                int(i.available),
                json.dumps(i.attributes),
                None if i.vector is None else np.asarray(i.vector, dtype=np.float32).tobytes(),
                i.vector_key,
                now,
            )
            for i in items
        ]

    def upsert_items(self, items: Iterable[Item]) -> list[int]:
        """Inserts or replaces items; each becomes a change every worker applies. Returns the
        changes' sequence numbers, in the items' order."""
        now = time.time()
        rows = self._rows(items, now)
        with self._transaction() as db:
            db.executemany(
                f"INSERT INTO items VALUES {ITEM_COLUMNS} ON CONFLICT(item_id) DO UPDATE SET "
                "title=excluded.title, text=excluded.text, category=excluded.category, "
                "brand=excluded.brand, price=excluded.price, available=excluded.available, "
                "attributes=excluded.attributes, vector=excluded.vector, vector_key=excluded.vector_key, "
                "updated=excluded.updated",
                rows,
            )
            db.executemany("DELETE FROM deleted_items WHERE item_id = ?", [(r[0],) for r in rows])
            log = "INSERT INTO changes (kind, key, at) VALUES ('item', ?, ?)"
            return [int(db.execute(log, (r[0], now)).lastrowid or 0) for r in rows]

    def seed_items(self, items: Iterable[Item]) -> int:
        """Adds the items that are neither stored nor deleted, in one transaction; returns how many.

        Every worker seeds the same items from the same artifacts, so seeding logs no changes, and
        an item deleted meanwhile by another worker stays deleted."""
        rows = self._rows(items, time.time())
        with self._transaction() as db:
            added = db.executemany(  # rows inserted, not counting what triggers write
                f"INSERT INTO items SELECT * FROM (VALUES {ITEM_COLUMNS}) AS new "
                "WHERE new.column1 NOT IN (SELECT item_id FROM deleted_items) "
                "ON CONFLICT(item_id) DO NOTHING",
                rows,
            )
            return max(added.rowcount, 0)

    def set_vectors(self, items: Iterable[Item]) -> None:
        """Stores items' text vectors (and which encoder made them), each only if the item still
        has the text it was embedded from: a concurrent change or deletion is never undone."""
        rows = [
            (np.asarray(i.vector, dtype=np.float32).tobytes(), i.vector_key, i.item_id, i.text)
            for i in items
            if i.vector is not None
        ]
        with self._transaction() as db:
            db.executemany("UPDATE items SET vector = ?, vector_key = ? WHERE item_id = ? AND text = ?", rows)

    def delete_item(self, item_id: str) -> bool:
        now = time.time()
        with self._transaction() as db:
            removed = db.execute("DELETE FROM items WHERE item_id = ?", (item_id,)).rowcount
            db.execute("INSERT OR REPLACE INTO deleted_items VALUES (?, ?)", (item_id, now))
            db.execute("INSERT INTO changes (kind, key, at) VALUES ('delete', ?, ?)", (item_id, now))
        return removed > 0

    @staticmethod
    def _item(row: tuple[Any, ...]) -> Item:
        vector = None if row[8] is None else np.frombuffer(row[8], dtype=np.float32).copy()
        return Item(
            item_id=row[0],
            title=row[1],
            text=row[2],
            category=row[3],
            brand=row[4],
            price=row[5],
            available=bool(row[6]),
            attributes=json.loads(row[7]),
            vector=vector,
            vector_key=row[9],
        )

    def get_item(self, item_id: str) -> Item | None:
        rows = self._query("SELECT * FROM items WHERE item_id = ?", (item_id,))
        return self._item(rows[0]) if rows else None

    def all_items(self) -> list[Item]:
        return [self._item(r) for r in self._bulk_query("SELECT * FROM items ORDER BY rowid")]

    def deleted_items(self) -> set[str]:
        return {r[0] for r in self._bulk_query("SELECT item_id FROM deleted_items")}

    def known_item_ids(self) -> set[str]:
        """Ids of the items stored or deleted (no rows decoded)."""
        sql = "SELECT item_id FROM items UNION SELECT item_id FROM deleted_items"
        return {r[0] for r in self._bulk_query(sql)}

    def search_text(self, query: str) -> dict[str, float]:
        """Item id -> the share of the query's words (stopwords aside, each weighted by its inverse
        document frequency) that the item's id, title or brand holds, for the items holding one of
        the query's rarer words (a word of more than COMMON_WORD_ITEMS items says little)."""
        terms = [w for w in dict.fromkeys(words(query)) if w not in STOPWORDS]
        if not terms:
            return {}
        total = max(int(self._query("SELECT COUNT(*) FROM items")[0][0]), 1)
        marks = ",".join("?" * len(terms))
        counts = dict(self._query(f"SELECT term, doc FROM items_vocab WHERE term IN ({marks})", tuple(terms)))
        idf = {term: math.log(1 + total / (1 + counts.get(term, 0))) for term in terms}
        norm = sum(idf.values())
        scores: defaultdict[str, float] = defaultdict(float)
        for term in terms:
            if 0 < counts.get(term, 0) <= COMMON_WORD_ITEMS:
                phrase = '"' + term.replace('"', '""') + '"'
                sql = "SELECT item_id FROM items_text WHERE items_text MATCH ?"
                for (item_id,) in self._query(sql, (phrase,)):
                    scores[str(item_id)] += idf[term] / norm
        return dict(scores)

    # shoppers
    def add_events(self, events: list[Event]) -> int:
        with self._transaction() as db:
            db.executemany(
                "INSERT INTO events (user_key, item_id, type, ts, value) VALUES (?,?,?,?,?)",
                [(e.user_key, e.item_id, e.type, e.timestamp, e.value) for e in events],
            )
            now = time.time()
            for event in events:
                if event.impression is not None:
                    self._charge(db, event.impression, event.type, now)
        return len(events)

    def recent_events(self, user_key: str, limit: int) -> list[Event]:
        rows = self._query(
            "SELECT user_key, item_id, type, ts, value FROM events WHERE user_key = ? "
            "ORDER BY ts DESC, id DESC LIMIT ?",
            (user_key, limit),
        )
        return [Event(*r) for r in reversed(rows)]  # oldest first

    def delete_user(self, user_key: str) -> int:
        """Deletes the shopper's events; the change logged names no one (workers drop every cached
        answer), so the log keeps no trace of who asked to be forgotten."""
        with self._transaction() as db:
            removed = db.execute("DELETE FROM events WHERE user_key = ?", (user_key,)).rowcount
            # billing records stay, no longer tied to anyone
            db.execute("UPDATE ad_impressions SET user_key = '' WHERE user_key = ?", (user_key,))
            db.execute("INSERT INTO changes (kind, key, at) VALUES ('erase', '', ?)", (time.time(),))
            return int(removed)

    def events_since(self, event_id: int) -> list[tuple[int, str]]:
        """(event id, item id) of the events stored after ``event_id``, in commit order."""
        return self._query("SELECT id, item_id FROM events WHERE id > ? ORDER BY id", (event_id,))

    def last_event(self) -> int:
        return int(self._query("SELECT COALESCE(MAX(id), 0) FROM events")[0][0])

    def count_events(self) -> int:
        return int(self._query("SELECT COUNT(*) FROM events")[0][0])

    # metadata
    def setdefault_meta(self, key: str, value: str) -> str:
        """The stored value of ``key``, storing ``value`` first if there is none (safe when several
        processes start at once: the first commit wins and all read it)."""
        with self._transaction() as db:
            db.execute("INSERT OR IGNORE INTO meta VALUES (?, ?)", (key, value))
            return str(db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()[0])

    # changes, in commit order (writers hold SQLite's write lock, so a sequence number is never
    # committed after a higher one)
    def log_reload(self, artifacts: str) -> int:
        """Logs a swap to ``artifacts``; the newest reload is also kept apart from the log, so a
        worker whose log entries were pruned still learns what to serve."""
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT INTO changes (kind, key, at) VALUES ('reload', ?, ?)", (artifacts, time.time())
            )
            seq = int(cursor.lastrowid or 0)
            newest = json.dumps([seq, artifacts])
            db.execute("INSERT OR REPLACE INTO meta VALUES ('last_reload', ?)", (newest,))
            return seq

    def last_reload(self) -> Change | None:
        """The newest reload ever logged, pruned or not."""
        rows = self._query("SELECT value FROM meta WHERE key = 'last_reload'")
        if not rows:
            return None
        seq, artifacts = json.loads(rows[0][0])
        return Change(int(seq), "reload", str(artifacts))

    def changes_since(self, seq: int) -> list[Change]:
        """The entries after ``seq``, in commit order; ChangeLogPruned if some of them are gone."""
        with self._read_lock:
            db = self._reader
            db.execute("BEGIN")  # one snapshot for both reads: a prune cannot slip in between
            try:
                row = db.execute("SELECT value FROM meta WHERE key = 'changes_pruned_through'").fetchone()
                if row is not None and seq < int(row[0]):
                    raise ChangeLogPruned(f"the change-log entries after {seq} were pruned")
                rows = db.execute(
                    "SELECT seq, kind, key FROM changes WHERE seq > ? ORDER BY seq", (seq,)
                ).fetchall()
            finally:
                if db.in_transaction:
                    db.execute("COMMIT")
        return [Change(*row) for row in rows]

    def prune_changes(self, older_than: float) -> int:
        """Deletes the entries logged before time ``older_than``, except the newest (the sequence
        goes on from it); returns how many went."""
        with self._transaction() as db:
            cut = db.execute(
                "SELECT MAX(seq) FROM changes WHERE at < ? AND seq < (SELECT MAX(seq) FROM changes)",
                (older_than,),
            ).fetchone()[0]
            if cut is None:
                return 0
            removed = db.execute("DELETE FROM changes WHERE seq <= ?", (cut,)).rowcount
            db.execute("INSERT OR REPLACE INTO meta VALUES ('changes_pruned_through', ?)", (str(cut),))
            return int(removed)

    def last_change(self) -> int:
        return int(self._query("SELECT COALESCE(MAX(seq), 0) FROM changes")[0][0])

    def data_version(self) -> int:
        """Changes whenever another connection commits (another worker, or this store's writer);
        a cheap test for news."""
        return int(self._query("PRAGMA data_version")[0][0])

    def close(self) -> None:
        with self._write_lock, self._read_lock:
            self._db.close()
            self._reader.close()
