"""The engine's catalog at start: the store seeded with the model's products, then every stored item
with its vectors."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from semrec.data.text import item_text
from semrec.online.catalog import Catalog, GrowingMatrix
from semrec.online.policy import ItemPolicy
from semrec.online.runtime import ModelRuntime
from semrec.pseudonyms import store_secret
from semrec.schema import Item
from semrec.settings import Rule, ServerSettings
from semrec.store.protocol import Store


def seed_store(store: Store, runtime: ModelRuntime) -> None:
    """Puts the model's catalog into the store, except items deleted or already there."""
    known = store.known_item_ids()
    records = []
    for raw in runtime.catalog.to_dict("records"):
        row = {str(k): v for k, v in raw.items()}
        item_id = str(row["item_id"])
        if item_id in known:  # a shortcut only: seed_items checks again inside its transaction
            continue
        records.append(
            Item(
                item_id=item_id,
                title=str(row.get("title") or ""),
                text=item_text(row),
                category=_text(row.get("categories") or row.get("category")),
                brand=_text(row.get("brand")),
                price=_number(row.get("price")),
            )
        )
    if records:
        store.seed_items(records)


def prepare_store(store: Store, runtime: ModelRuntime, settings: ServerSettings) -> bytes:
    """What an engine needs in the store before it reads it: the model's products (those not
    there or deleted), and the secret shopper ids are pseudonymised with (the setting's, or one
    generated once and kept in the store). Returns the secret."""
    seed_store(store, runtime)
    configured = settings.pseudonym_secret
    return store_secret(store, configured.get_secret_value() if configured is not None else "")


def build_catalog(
    store: Store, runtime: ModelRuntime, rules: list[Rule], policy: ItemPolicy | None = None
) -> Catalog:
    """The catalog of the store's items (after :func:`prepare_store`), with their vectors: the
    trained ones from the artifacts, the rest from their stored text vectors (embedded again when
    another encoder wrote them) through the model's adapter. Reads the store only, except that
    vectors written by another encoder are replaced by this one's."""
    trained = runtime.index_of
    records = store.all_items()
    fingerprint = runtime.encoder.fingerprint()
    stale = [r for r in records if r.item_id not in trained or r.vector is not None]
    stale = [r for r in stale if r.vector is None or r.vector_key != fingerprint]
    if stale:  # items added through the API, embedded by another encoder: embed them again
        vectors = runtime.encode([r.text for r in stale])
        for record, vector in zip(stale, vectors, strict=True):
            record.vector, record.vector_key = vector, fingerprint
        store.set_vectors(stale)  # same items, this encoder's vectors
    n = len(records)
    rec = np.zeros((n, runtime.dim), dtype=np.float32)
    text = np.zeros((n, runtime.text_vectors.shape[1]), dtype=np.float32)
    popularity = np.zeros(n)
    recommendable = np.ones(n, dtype=bool)
    indexes = np.full(n, -1, dtype=np.int64)
    new_rows, new_text = [], []
    for row, record in enumerate(records):
        index = trained.get(record.item_id)
        if index is not None:
            rec[row] = runtime.item_vectors[index]
            text[row] = record.vector if record.vector is not None else runtime.text_vectors[index]
            popularity[row] = runtime.popularity[index]
            indexes[row] = index
        else:
            assert record.vector is not None
            text[row] = record.vector
            new_rows.append(row)
            new_text.append(record.vector)
    if new_rows:
        adapted = runtime.adapt(np.stack(new_text))
        if adapted is None:  # a model with no text adapter has no vector for items it never saw
            recommendable[new_rows] = False
        else:
            rec[new_rows] = adapted
    catalog = Catalog(
        rec=GrowingMatrix(np.zeros((0, runtime.dim))),
        text=GrowingMatrix(np.zeros((0, text.shape[1]))),
        meta=[],
        alive=np.zeros(0, dtype=bool),
        bonus=np.zeros(0),
        popularity=np.zeros(0),
        rules=list(rules),
        policy=policy or ItemPolicy(),
    )
    catalog.append(records, rec, text, popularity, recommendable, indexes)
    return catalog


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value)


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None
