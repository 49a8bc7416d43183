"""The embedded store: SQLite in WAL mode for the catalog, shoppers' events and server metadata.

An event is committed (fsync'd, ``synchronous=FULL``) before :meth:`SQLiteStore.add_events` returns,
so whatever the API acknowledged survives a crash. Shoppers are kept under pseudonyms only. The
statements are shared with the PostgreSQL backend (:mod:`semrec.store.sql`); the lexical part of
search is SQLite's FTS5.
"""

from __future__ import annotations

import math
import sqlite3
import threading
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from semrec.data.words import COMMON_WORD_ITEMS, STOPWORDS, words
from semrec.store.ads import ADS_SCHEMA
from semrec.store.experiments import EXPERIMENT_SCHEMA
from semrec.store.sql import SQLStore

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
    value REAL,
    received REAL,
    source TEXT
);
CREATE INDEX IF NOT EXISTS events_by_user ON events (user_key, ts, id);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
-- pseudonyms of erased shoppers: training from the shop's older data leaves them out
CREATE TABLE IF NOT EXISTS erased (user_key TEXT PRIMARY KEY, erased REAL NOT NULL);
CREATE TABLE IF NOT EXISTS changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    at REAL NOT NULL
);
"""


class SQLiteStore(SQLStore):
    """A writer and a reader connection, each behind its own lock. In WAL mode a read never waits
    for a write, so answers go on while an acknowledged event is being fsync'd; each read sees
    every commit made before it started (read-your-writes)."""

    def __init__(self, path: Path | str, group_commit: bool = True) -> None:
        super().__init__(group_commit)
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._write_lock = threading.Lock()
        self._db = self._connect()
        self._db.execute("PRAGMA journal_mode=WAL")  # kept in the file: the reader opens it in WAL
        self._db.execute("PRAGMA synchronous=FULL")  # the commit is on disk before we acknowledge
        indexed = self._db.execute("SELECT 1 FROM sqlite_master WHERE name = 'items_text'").fetchone()
        self._db.executescript(SCHEMA + ADS_SCHEMA + EXPERIMENT_SCHEMA)
        self._add_event_columns()
        if indexed is None:  # a database written before search moved into it: index what it holds
            self._db.execute("INSERT INTO items_text (items_text) VALUES ('rebuild')")
        self._read_lock = threading.Lock()
        self._reader = self._connect()

    def _add_event_columns(self) -> None:
        """A database from before the events kept when they were stored and the sending key gains
        those columns (under the write lock: workers starting at once add them once)."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(events)")}
            for column, kind in (("received", "REAL"), ("source", "TEXT")):
                if column not in columns:
                    self._db.execute(f"ALTER TABLE events ADD COLUMN {column} {kind}")
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

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
                self._db.execute("COMMIT")  # may fail too (a full disk): then nothing was stored
            except BaseException:
                if self._db.in_transaction:  # left open, the next write could never begin
                    self._db.execute("ROLLBACK")
                raise

    def _query(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._read_lock:  # autocommit: each statement reads the latest committed state
            return self._reader.execute(sql, args).fetchall()

    def _bulk_query(self, sql: str) -> list[tuple[Any, ...]]:
        db = self._connect()
        try:
            return db.execute(sql).fetchall()
        finally:
            db.close()

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

    def data_version(self) -> int:
        """Changes whenever another connection commits (another worker, or this store's writer);
        a cheap test for news."""
        return int(self._query("PRAGMA data_version")[0][0])

    def close(self) -> None:
        with self._write_lock, self._read_lock:
            self._db.close()
            self._reader.close()
