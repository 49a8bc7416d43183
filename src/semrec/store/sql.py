"""The store's SQL, shared by its backends (SQLite, PostgreSQL): one set of statements in the subset
both speak (``?`` placeholders; the PostgreSQL backend translates them).

Every write transaction is the only one in progress (SQLite has one writer; the PostgreSQL backend
takes one advisory lock per transaction), so change-log sequence numbers and event ids are committed
in increasing order, which is what lets a worker follow the log by "everything after n".
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from typing import Any

import numpy as np

from semrec.schema import Event, EventRow, Item
from semrec.store.ads import AdTables
from semrec.store.dbapi import Connection
from semrec.store.experiments import ExperimentTables
from semrec.store.group import GroupCommit
from semrec.store.protocol import Change, ChangeLogPruned, reload_key

ITEM_FIELDS = (
    "item_id, title, text, category, brand, price, available, attributes, vector, vector_key, updated"
)
ITEM_VALUES = "(?,?,?,?,?,?,?,?,?,?,?)"
EVENTS_PAGE = 10_000


class SQLStore(AdTables, ExperimentTables):
    """Everything but connections, full-text search and the news check, which each backend owns."""

    ORDER = "rowid"  # the column giving the items' insertion order

    def __init__(self, group_commit: bool = True) -> None:
        # without group commit, each caller's events are one transaction of their own
        self._events = GroupCommit(self._write_events, max_items=50_000 if group_commit else 0)

    # the backend's part
    def _transaction(self) -> AbstractContextManager[Connection]:
        raise NotImplementedError

    def _query(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def _bulk_query(self, sql: str) -> list[tuple[Any, ...]]:
        """A whole-table read, on a connection of its own so the answers' reads never queue behind it."""
        raise NotImplementedError

    def _index_text(self, db: Connection, items: list[Item]) -> None:
        """Inside a write: the items' words into the full-text index (nothing where triggers do it)."""

    def _unindex_text(self, db: Connection, item_id: str) -> None:
        """Inside a write: a deleted item's words out of the full-text index."""

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
        items = list(items)
        now = time.time()
        rows = self._rows(items, now)
        with self._transaction() as db:
            db.executemany(
                f"INSERT INTO items ({ITEM_FIELDS}) VALUES {ITEM_VALUES} ON CONFLICT(item_id) DO UPDATE SET "
                "title=excluded.title, text=excluded.text, category=excluded.category, "
                "brand=excluded.brand, price=excluded.price, available=excluded.available, "
                "attributes=excluded.attributes, vector=excluded.vector, vector_key=excluded.vector_key, "
                "updated=excluded.updated",
                rows,
            )
            db.executemany("DELETE FROM deleted_items WHERE item_id = ?", [(r[0],) for r in rows])
            self._index_text(db, items)
            log = "INSERT INTO changes (kind, key, at) VALUES ('item', ?, ?) RETURNING seq"
            return [int(db.execute(log, (r[0], now)).fetchone()[0]) for r in rows]

    def seed_items(self, items: Iterable[Item]) -> int:
        """Adds the items that are neither stored nor deleted, in one transaction; returns how many.

        Every worker seeds the same items from the same artifacts, so seeding logs no changes, and
        an item deleted meanwhile by another worker stays deleted."""
        items = list(items)
        with self._transaction() as db:
            stored = db.execute("SELECT item_id FROM items UNION SELECT item_id FROM deleted_items")
            known = {r[0] for r in stored.fetchall()}
            new = [i for i in dict((i.item_id, i) for i in items).values() if i.item_id not in known]
            db.executemany(
                f"INSERT INTO items ({ITEM_FIELDS}) VALUES {ITEM_VALUES}", self._rows(new, time.time())
            )
            self._index_text(db, new)
            return len(new)

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
            db.execute(
                "INSERT INTO deleted_items VALUES (?, ?) "
                "ON CONFLICT(item_id) DO UPDATE SET deleted = excluded.deleted",
                (item_id, now),
            )
            self._unindex_text(db, item_id)
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
        rows = self._query(f"SELECT {ITEM_FIELDS} FROM items WHERE item_id = ?", (item_id,))
        return self._item(rows[0]) if rows else None

    def all_items(self) -> list[Item]:
        return [
            self._item(r) for r in self._bulk_query(f"SELECT {ITEM_FIELDS} FROM items ORDER BY {self.ORDER}")
        ]

    def deleted_items(self) -> set[str]:
        return {r[0] for r in self._bulk_query("SELECT item_id FROM deleted_items")}

    def known_item_ids(self) -> set[str]:
        """Ids of the items stored or deleted (no rows decoded)."""
        sql = "SELECT item_id FROM items UNION SELECT item_id FROM deleted_items"
        return {r[0] for r in self._bulk_query(sql)}

    # shoppers
    def add_events(self, events: list[Event]) -> int:
        """Stores the events, committed (durable) before it returns; concurrent callers' events
        share one commit (:mod:`semrec.store.group`)."""
        if events:
            self._events.submit(events)
        return len(events)

    def _write_events(self, batches: Sequence[list[Event]]) -> None:
        events = [e for batch in batches for e in batch]
        plain = [e for e in events if e.attribution is None]
        attributed = [e for e in events if e.attribution is not None]
        insert = (
            "INSERT INTO events (user_key, item_id, type, ts, value, received, source) VALUES (?,?,?,?,?,?,?)"
        )
        now = time.time()  # when the server stored them: the influence caps' clock

        def row(e: Event) -> tuple[Any, ...]:
            return (e.user_key, e.item_id, e.type, e.timestamp, e.value, now, e.source)

        with self._transaction() as db:
            db.executemany(insert, [row(e) for e in plain])
            if attributed:  # their ids link them to their answers
                ids = [int(db.execute(f"{insert} RETURNING id", row(e)).fetchone()[0]) for e in attributed]
                self._attribute(db, ids, attributed)
            for event in events:
                if event.impression is not None:
                    self._charge(db, event.impression, event.type, now)

    def recent_events(self, user_key: str, limit: int) -> list[Event]:
        rows = self._query(
            "SELECT user_key, item_id, type, ts, value FROM events WHERE user_key = ? "
            "ORDER BY ts DESC, id DESC LIMIT ?",
            (user_key, limit),
        )
        return [Event(*r) for r in reversed(rows)]  # oldest first

    def delete_user(self, user_key: str) -> int:
        """Deletes the shopper's events; the change logged names no one (workers drop every cached
        answer), so the log keeps no trace of who asked to be forgotten. The pseudonym is kept in
        ``erased`` (a suppression list): retraining from the shop's dataset leaves them out."""
        with self._transaction() as db:
            db.execute(
                "DELETE FROM attributions WHERE event_id IN (SELECT id FROM events WHERE user_key = ?)",
                (user_key,),
            )
            removed = db.execute("DELETE FROM events WHERE user_key = ?", (user_key,)).rowcount
            # billing records stay, no longer tied to anyone
            db.execute("UPDATE ad_impressions SET user_key = '' WHERE user_key = ?", (user_key,))
            db.execute("INSERT INTO changes (kind, key, at) VALUES ('erase', '', ?)", (time.time(),))
            db.execute(  # so that no later training reads them back from the shop's older data
                "INSERT INTO erased VALUES (?, ?) ON CONFLICT(user_key) DO NOTHING", (user_key, time.time())
            )
            return int(removed)

    def erased_users(self) -> set[str]:
        """Pseudonyms of the shoppers erased on request."""
        return {str(r[0]) for r in self._query("SELECT user_key FROM erased")}

    def export_user(self, user_key: str) -> dict[str, list[dict[str, Any]]]:
        """Everything stored under the pseudonym: its events (with the answer each followed, when
        the client said) and the sponsored products shown to it, oldest first."""
        events = self._query(
            "SELECT e.item_id, e.type, e.ts, e.value, e.received, e.source, "
            "a.request_id, a.slot, a.arm, a.answer_list, a.model "
            "FROM events e LEFT JOIN attributions a ON a.event_id = e.id WHERE e.user_key = ? "
            "ORDER BY e.ts, e.id",
            (user_key,),
        )
        ads = self._query(
            "SELECT impression_id, campaign_id, item_id, price, served, clicked FROM ad_impressions "
            "WHERE user_key = ? ORDER BY served",
            (user_key,),
        )
        return {
            "events": [
                {
                    "item_id": item,
                    "type": kind,
                    "timestamp": ts,
                    "value": value,
                    "stored": received,
                    "sent_with_key": source,
                    "answer": None
                    if request is None
                    else {"request_id": request, "position": slot, "arm": arm, "list": name, "model": model},
                }
                for item, kind, ts, value, received, source, request, slot, arm, name, model in events
            ],
            "ad_impressions": [
                {
                    "impression_id": impression,
                    "campaign_id": campaign,
                    "item_id": item,
                    "price_per_click": price / 1_000_000,
                    "shown": served,
                    "clicked": clicked,
                }
                for impression, campaign, item, price, served, clicked in ads
            ],
        }

    def events_since(self, event_id: int) -> list[tuple[int, str]]:
        """(event id, item id) of the events stored after ``event_id``, in commit order."""
        # in pages, ordered and limited, so that PostgreSQL walks the key's index even before it
        # has statistics of a fast-growing table (a filter alone would scan the whole table)
        out: list[tuple[int, str]] = []
        while True:
            page = self._query(
                "SELECT id, item_id FROM events WHERE id > CAST(? AS BIGINT) ORDER BY id LIMIT ?",
                (event_id, EVENTS_PAGE),
            )
            out += [(int(i), str(item)) for i, item in page]
            if len(page) < EVENTS_PAGE:
                return out
            event_id = out[-1][0]

    def event_log(self, after: int = 0) -> list[EventRow]:
        """Every stored event after ``after``, in commit order (what continual training learns
        from and the influence caps read; an erased shopper's events are gone)."""
        out: list[EventRow] = []
        while True:
            page = self._query(
                "SELECT id, user_key, item_id, ts, received, source FROM events "
                "WHERE id > CAST(? AS BIGINT) ORDER BY id LIMIT ?",
                (after, EVENTS_PAGE),
            )
            out += [
                EventRow(int(i), str(user), str(item), float(ts), None if got is None else float(got), source)
                for i, user, item, ts, got, source in page
            ]
            if len(page) < EVENTS_PAGE:
                return out
            after = out[-1][0]

    def last_event(self) -> int:
        return int(self._query("SELECT COALESCE(MAX(id), 0) FROM events")[0][0])

    def count_events(self) -> int:
        return int(self._query("SELECT COUNT(*) FROM events")[0][0])

    # metadata
    def setdefault_meta(self, key: str, value: str) -> str:
        """The stored value of ``key``, storing ``value`` first if there is none (safe when several
        processes start at once: the first commit wins and all read it)."""
        with self._transaction() as db:
            db.execute("INSERT INTO meta VALUES (?, ?) ON CONFLICT(key) DO NOTHING", (key, value))
            return str(db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()[0])

    @staticmethod
    def _set_meta(db: Connection, key: str, value: str) -> None:
        db.execute(
            "INSERT INTO meta VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    # changes, in commit order
    def log_reload(self, artifacts: str, arm: str = "") -> int:
        """Logs a swap to ``artifacts`` (of the A/B ``arm``; "" is the control); the newest reload of
        each arm is also kept apart from the log, so a worker whose log entries were pruned still
        learns what to serve."""
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT INTO changes (kind, key, at) VALUES ('reload', ?, ?) RETURNING seq",
                (reload_key(artifacts, arm), time.time()),
            )
            seq = int(cursor.fetchone()[0])
            self._set_meta(db, "last_reload" + (f"@{arm}" if arm else ""), json.dumps([seq, artifacts]))
            return seq

    def last_reload(self, arm: str = "") -> Change | None:
        """The newest reload of ``arm`` ever logged, pruned or not; its key is the artifact folder."""
        rows = self._query(
            "SELECT value FROM meta WHERE key = ?", ("last_reload" + (f"@{arm}" if arm else ""),)
        )
        if not rows:
            return None
        seq, artifacts = json.loads(rows[0][0])
        return Change(int(seq), "reload", str(artifacts))

    def changes_since(self, seq: int) -> list[Change]:
        """The entries after ``seq``, in commit order; ChangeLogPruned if some of them are gone."""
        # one statement reads one snapshot (on both backends): a prune cannot slip in between
        rows = self._query(
            "SELECT -1, 'pruned', value FROM meta WHERE key = 'changes_pruned_through' "
            "UNION ALL SELECT seq, kind, key FROM changes WHERE seq > CAST(? AS BIGINT) ORDER BY 1",
            (seq,),
        )
        if rows and rows[0][0] == -1:
            if seq < int(rows[0][2]):
                raise ChangeLogPruned(f"the change-log entries after {seq} were pruned")
            rows = rows[1:]
        return [Change(int(s), str(kind), str(key)) for s, kind, key in rows]

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
            removed = db.execute("DELETE FROM changes WHERE seq <= CAST(? AS BIGINT)", (cut,)).rowcount
            self._set_meta(db, "changes_pruned_through", str(cut))
            return int(removed)

    def last_change(self) -> int:
        return int(self._query("SELECT COALESCE(MAX(seq), 0) FROM changes")[0][0])
