"""An engine's writes: each goes to the store first and is then applied to the catalog, the
indexes and the caches in the store's change-log order, together with every other process's writes
to the same database (so several workers converge on one catalog)."""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np

from semrec.data.text import text_of
from semrec.feedback.influence import Influence
from semrec.online.ads import CampaignBook, Head
from semrec.online.catalog import Catalog
from semrec.online.index import VectorIndex
from semrec.online.runtime import ModelRuntime
from semrec.online.shopper_cache import ShopperCache
from semrec.online.threads import one_thread_here
from semrec.schema import Event, Item, Scored
from semrec.settings import ServerSettings
from semrec.store.protocol import Change, ChangeLogPruned, Store


class Writes:
    """The write half of :class:`~semrec.online.engine.Engine` (which sets these attributes)."""

    settings: ServerSettings
    store: Store
    runtime: ModelRuntime
    catalog: Catalog
    campaigns: CampaignBook
    influence: Influence
    outdated: bool
    _indexes: dict[str, VectorIndex]
    _queries: ShopperCache[np.ndarray]
    _answers: ShopperCache[tuple[list[Scored], Head | None]]
    _catch_up_lock: threading.Lock
    _applied_change: int
    _applied_event: int
    _matrix: Callable[..., np.ndarray]
    user_key: Callable[[str], str]

    # writes: to the store first, then applied here in the change log's order (a write of this
    # engine's own once, from what it wrote; everyone else's from the store)
    def record_events(self, events: list[Event]) -> int:
        stored = self.store.add_events(events)  # durable before we answer
        self.catch_up()
        return stored

    def upsert_item(self, item: Item) -> bool:
        """Embeds and stores the item, then serves it; returns whether it is recommendable (it is
        always searchable)."""
        one_thread_here(self.settings.torch_threads)
        item.text = item.text or text_of(item)
        item.vector = self.runtime.encode([item.text])[0]
        item.vector_key = self.runtime.encoder.fingerprint()
        (seq,) = self.store.upsert_items([item])
        self.catch_up({seq: item})
        row = self.catalog.live_row(item.item_id)
        return row is not None and bool(self.catalog.recommendable[row])

    def _place(self, item: Item) -> None:
        """A stored item into the catalog and indexes, from its stored text vector."""
        runtime = self.runtime
        vector = item.vector
        if vector is None or item.vector_key != runtime.encoder.fingerprint():
            vector = runtime.encode([item.text])[0]  # embedded by another model version
        text = vector[None, :].astype(np.float32)
        trained = runtime.index_of.get(item.item_id)
        adapted = runtime.item_vectors[[trained]] if trained is not None else runtime.adapt(text)
        rec = adapted if adapted is not None else np.zeros((1, runtime.dim), dtype=np.float32)
        self.add_to_catalog(item, rec, text, adapted is not None, -1 if trained is None else trained)

    def add_to_catalog(
        self, item: Item, rec: np.ndarray, text: np.ndarray, recommendable: bool = True, trained: int = -1
    ) -> int:
        """One item (its (1, dim) recommendation and text vectors) into the catalog and every index
        built so far; returns its row."""
        with self.catalog.lock:
            flags = np.array([recommendable]), np.array([trained])
            row = self.catalog.append([item], rec, text, np.zeros(1), *flags)
            for name, index in self._indexes.items():
                index.add(self._matrix(name, np.array([row])))
        return row

    def delete_item(self, item_id: str) -> bool:
        if self.catalog.live_row(item_id) is None and self.store.get_item(item_id) is None:
            return False
        self.store.delete_item(item_id)
        self.catch_up()
        return True

    def delete_user(self, user_id: str) -> int:
        removed = self.store.delete_user(self.user_key(user_id))
        self.catch_up()
        return removed

    def catch_up(self, own: dict[int, Item] | None = None) -> None:
        """Applies the writes committed since this engine last looked, by this process or another
        one on the same database: items upserted or deleted, erasures, and event counts. ``own``:
        items this engine has just stored, by their change's sequence number, applied as written
        rather than read back."""
        with self._catch_up_lock:
            try:
                changes = self.store.changes_since(self._applied_change)
            except ChangeLogPruned:
                self.outdated = True  # the follower rebuilds this worker's engine from the store
                return
            # an item's last change in the batch reads its current row: earlier ones add nothing
            last = {c.key: c.seq for c in changes if c.kind in ("item", "delete")}
            for change in changes:
                if change.kind not in ("item", "delete") or last[change.key] == change.seq:
                    self._apply(change, (own or {}).get(change.seq))
                self._applied_change = change.seq
            events = self.store.event_log(self._applied_event)
            if events:
                self.catalog.count_events([e.item_id for e in self.influence.admit(events)])
                self._applied_event = events[-1].id

    @property
    def applied_change(self) -> int:
        """The last change-log entry this engine reflects."""
        return self._applied_change

    def _apply(self, change: Change, written: Item | None = None) -> None:
        if change.kind == "item":
            item = written or self.store.get_item(change.key)
            if item is not None:  # else deleted since: a later change removes it
                self._place(item)
        elif change.kind == "delete":
            self.catalog.remove(change.key)
        elif change.kind == "erase":
            # the change does not say whose data went, so no cached answer of anyone survives it
            self._queries.clear()
            self._answers.clear()
        elif change.kind == "campaign":
            self.campaigns.refresh(self.store, change.key)
        # "reload" swaps engines, which the app does (semrec.online.follower)
