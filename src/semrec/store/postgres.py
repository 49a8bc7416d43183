"""The PostgreSQL store (``database = postgresql://...``): one database shared by every worker on every
node, through psycopg 3 and a connection pool.

The statements are the embedded store's (:mod:`semrec.store.sql`). Each write transaction first takes
one transaction-level advisory lock, so writes commit one at a time, in the order of their sequence
numbers and event ids, as on SQLite; a commit returns only once PostgreSQL has flushed it
(``synchronous_commit = on``), so what the API acknowledged survives a crash of either. Other nodes
learn of a write from the database itself: :meth:`PostgresStore.data_version` reads the newest
change and event ids, one index lookup each, before every answer.

Search's lexical part keeps each item's words (the same tokenizer as queries) in ``item_terms``.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from semrec.data.words import COMMON_WORD_ITEMS, STOPWORDS, words
from semrec.schema import Item
from semrec.store.dbapi import Connection, Cursor
from semrec.store.experiments import EXPERIMENT_SCHEMA
from semrec.store.sql import SQLStore

WRITE_LOCK = 0x73656D726563  # the advisory lock every write transaction holds ("semrec")

SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    pos BIGSERIAL UNIQUE,
    item_id TEXT PRIMARY KEY,
    title TEXT NOT NULL DEFAULT '',
    text TEXT NOT NULL DEFAULT '',
    category TEXT NOT NULL DEFAULT '',
    brand TEXT NOT NULL DEFAULT '',
    price DOUBLE PRECISION,
    available INTEGER NOT NULL DEFAULT 1,
    attributes TEXT NOT NULL DEFAULT '{}',
    vector BYTEA,
    vector_key TEXT NOT NULL DEFAULT '',
    updated DOUBLE PRECISION NOT NULL
);
CREATE TABLE IF NOT EXISTS item_terms (
    term TEXT NOT NULL,
    item_id TEXT NOT NULL,
    PRIMARY KEY (term, item_id)
);
CREATE INDEX IF NOT EXISTS item_terms_by_item ON item_terms (item_id);
CREATE TABLE IF NOT EXISTS deleted_items (item_id TEXT PRIMARY KEY, deleted DOUBLE PRECISION NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    id BIGSERIAL PRIMARY KEY,
    user_key TEXT NOT NULL,
    item_id TEXT NOT NULL,
    type TEXT NOT NULL,
    ts DOUBLE PRECISION NOT NULL,
    value DOUBLE PRECISION,
    received DOUBLE PRECISION,
    source TEXT
);
CREATE INDEX IF NOT EXISTS events_by_user ON events (user_key, ts, id);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS erased (user_key TEXT PRIMARY KEY, erased DOUBLE PRECISION NOT NULL);
CREATE TABLE IF NOT EXISTS changes (
    seq BIGSERIAL PRIMARY KEY,
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    at DOUBLE PRECISION NOT NULL
);
CREATE TABLE IF NOT EXISTS campaigns (
    campaign_id TEXT PRIMARY KEY,
    items TEXT NOT NULL,
    bid BIGINT NOT NULL,
    daily_budget BIGINT NOT NULL,
    start DOUBLE PRECISION,
    "end" DOUBLE PRECISION,
    active INTEGER NOT NULL,
    updated DOUBLE PRECISION NOT NULL
);
CREATE TABLE IF NOT EXISTS ad_impressions (
    impression_id TEXT PRIMARY KEY,
    campaign_id TEXT NOT NULL,
    item_id TEXT NOT NULL,
    user_key TEXT NOT NULL,
    day BIGINT NOT NULL,
    price BIGINT NOT NULL,
    served DOUBLE PRECISION NOT NULL,
    expires DOUBLE PRECISION NOT NULL,
    clicked DOUBLE PRECISION
);
CREATE INDEX IF NOT EXISTS ad_holds ON ad_impressions (campaign_id, day, expires) WHERE clicked IS NULL;
CREATE INDEX IF NOT EXISTS ad_caps ON ad_impressions (user_key, campaign_id, day);
CREATE TABLE IF NOT EXISTS ad_days (
    campaign_id TEXT NOT NULL,
    day BIGINT NOT NULL,
    impressions BIGINT NOT NULL DEFAULT 0,
    clicks BIGINT NOT NULL DEFAULT 0,
    conversions BIGINT NOT NULL DEFAULT 0,
    spent BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (campaign_id, day)
);
"""


def _sql(statement: str) -> str:
    """The shared statements' ``?`` placeholders as psycopg's (none of them holds a literal % or ?)."""
    return statement.replace("?", "%s")


class _Adapter:
    """A psycopg connection speaking the shared statements' dialect."""

    def __init__(self, connection: psycopg.Connection[Any]) -> None:
        self._connection = connection

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> Cursor:
        return self._connection.execute(_sql(sql), tuple(parameters))

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> Cursor:
        cursor = self._connection.cursor()
        rows = [tuple(p) for p in parameters]
        if rows:
            cursor.executemany(_sql(sql), rows)
        return cursor


def _terms(item: Item) -> set[str]:
    return set(words(f"{item.item_id} {item.title} {item.brand}"))


class PostgresStore(SQLStore):
    ORDER = "pos"

    def __init__(self, url: str, max_connections: int = 16, group_commit: bool = True) -> None:
        super().__init__(group_commit)
        self.url = url
        self._pool = ConnectionPool(
            url,
            min_size=1,
            max_size=max_connections,
            kwargs={"autocommit": True},
            configure=self._configure,
            open=False,
            name="semrec-store",
        )
        try:
            self._pool.open(wait=True, timeout=30)
        except Exception as error:
            self._pool.close()
            raise ConnectionError(
                f"cannot connect to the PostgreSQL database {_safe(url)}: {error}"
            ) from None
        with self._transaction() as db:  # the lock also keeps nodes starting at once from racing
            for statement in (SCHEMA + EXPERIMENT_SCHEMA).split(";"):
                if statement.strip():
                    db.execute(statement)
            # a database from before the events kept when they were stored and the sending key;
            # looked up first, as ALTER TABLE locks the table even when it changes nothing
            have = {
                str(row[0])
                for row in db.execute(
                    "SELECT column_name FROM information_schema.columns "
                    "WHERE table_schema = current_schema() AND table_name = 'events'"
                ).fetchall()
            }
            for column, kind in (("received", "DOUBLE PRECISION"), ("source", "TEXT")):
                if column not in have:
                    db.execute(f"ALTER TABLE events ADD COLUMN {column} {kind}")

    @staticmethod
    def _configure(connection: psycopg.Connection[Any]) -> None:
        connection.execute(
            "SET synchronous_commit = on"
        )  # acknowledged means flushed, whatever the server default

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        with self._pool.connection() as connection, connection.transaction():
            connection.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
            yield _Adapter(connection)

    def _query(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._pool.connection() as connection:
            return connection.execute(_sql(sql), args).fetchall()

    def _bulk_query(self, sql: str) -> list[tuple[Any, ...]]:
        return self._query(sql)  # the pool has other connections for the answers meanwhile

    def _index_text(self, db: Connection, items: list[Item]) -> None:
        if not items:
            return
        db.execute("DELETE FROM item_terms WHERE item_id = ANY(?)", ([i.item_id for i in items],))
        rows = {(term, i.item_id) for i in items for term in _terms(i)}
        db.executemany("INSERT INTO item_terms VALUES (?, ?) ON CONFLICT DO NOTHING", sorted(rows))

    def _unindex_text(self, db: Connection, item_id: str) -> None:
        db.execute("DELETE FROM item_terms WHERE item_id = ?", (item_id,))

    def search_text(self, query: str) -> dict[str, float]:
        """As the embedded store's (:meth:`semrec.store.sqlite.SQLiteStore.search_text`): the
        IDF-weighted share of the query's words each item holds, for the query's rarer words."""
        terms = [w for w in dict.fromkeys(words(query)) if w not in STOPWORDS]
        if not terms:
            return {}
        total = max(int(self._query("SELECT COUNT(*) FROM items")[0][0]), 1)
        counts = {
            str(term): int(n)
            for term, n in self._query(
                "SELECT term, COUNT(*) FROM item_terms WHERE term = ANY(?) GROUP BY term", (terms,)
            )
        }
        idf = {term: math.log(1 + total / (1 + counts.get(term, 0))) for term in terms}
        norm = sum(idf.values())
        rare = [term for term in terms if 0 < counts.get(term, 0) <= COMMON_WORD_ITEMS]
        scores: defaultdict[str, float] = defaultdict(float)
        if rare:
            for term, item_id in self._query(
                "SELECT term, item_id FROM item_terms WHERE term = ANY(?)", (rare,)
            ):
                scores[str(item_id)] += idf[str(term)] / norm
        return dict(scores)

    def data_version(self) -> int:
        """Changes whenever anyone commits a change or an event: the newest of each, in one query."""
        seq, event = self._query(
            "SELECT (SELECT COALESCE(MAX(seq), 0) FROM changes), (SELECT COALESCE(MAX(id), 0) FROM events)"
        )[0]
        return (int(seq) << 64) | int(event)

    def close(self) -> None:
        self._pool.close()


def _safe(url: str) -> str:
    """The URL without its password, for messages."""
    info = psycopg.conninfo.conninfo_to_dict(url)
    info.pop("password", None)
    return " ".join(f"{k}={v}" for k, v in info.items())
