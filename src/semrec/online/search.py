"""The lexical part of search: the store's full-text index, read as live catalog rows."""

from __future__ import annotations

from semrec.online.catalog import Catalog
from semrec.store.protocol import ItemStore


def lexical(store: ItemStore, catalog: Catalog, query: str) -> dict[int, float]:
    """Live catalog row -> the share of the query's (IDF-weighted) words the item holds, for the
    items holding one of its rarer words (:meth:`~semrec.store.sqlite.SQLiteStore.search_text`)."""
    rows = {}
    for item_id, score in store.search_text(query).items():
        row = catalog.live_row(item_id)
        if row is not None:  # else stored by another worker, not applied here yet
            rows[row] = score
    return rows
