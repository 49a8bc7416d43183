"""Where the shop's catalog, events and change log live: an SQLite file (embedded, the default) or a
PostgreSQL database shared by many nodes, chosen by the database URL (:func:`open_store`)."""

from __future__ import annotations

from pathlib import Path

from semrec.store.protocol import Store

SCHEMES = ("sqlite:///", "postgresql://", "postgres://")


def open_store(database: str | Path, group_commit: bool = True) -> Store:
    """The store at ``database``: ``sqlite:///path`` or a plain file path (SQLite), or
    ``postgresql://user@host:port/name`` (PostgreSQL, through a connection pool).
    ``group_commit``: concurrent callers' events share one commit (:mod:`semrec.store.group`)."""
    url = str(database)
    if url.startswith(("postgresql://", "postgres://")):
        from semrec.store.postgres import PostgresStore  # psycopg is loaded only when used

        return PostgresStore(url, group_commit=group_commit)
    from semrec.store.sqlite import SQLiteStore

    if url.startswith("sqlite:///"):
        url = url.removeprefix("sqlite:///")
        if not url:
            raise ValueError("database sqlite:/// names no file; allowed: sqlite:///path/to/file.db")
    elif "://" in url:
        scheme = url.split("://", 1)[0]
        raise ValueError(
            f"database scheme {scheme!r} is not supported; allowed: {', '.join(SCHEMES)} or a file path"
        )
    return SQLiteStore(Path(url), group_commit=group_commit)
