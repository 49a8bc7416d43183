"""The live catalog: one row per item version, with vectors, metadata and the masks every answer
honours (deleted, unavailable). Rows are append-only so indexes and arrays never shift."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from semrec.data.words import category_parts
from semrec.online.policy import ItemPolicy
from semrec.schema import Item
from semrec.settings import Rule


class GrowingMatrix:
    """A (rows, dim) float32 array with amortised appends."""

    def __init__(self, initial: np.ndarray) -> None:
        self._data = np.ascontiguousarray(initial, dtype=np.float32)
        self.rows = len(initial)

    def append(self, rows: np.ndarray) -> None:
        needed = self.rows + len(rows)
        if needed > len(self._data):
            grown = np.zeros((max(needed, 2 * len(self._data), 16), self._data.shape[1]), dtype=np.float32)
            grown[: self.rows] = self._data[: self.rows]
            self._data = grown
        self._data[self.rows : needed] = rows
        self.rows = needed

    @property
    def array(self) -> np.ndarray:
        return self._data[: self.rows]


@dataclass
class Catalog:
    """Everything the pipeline reads about items. Writers hold ``lock``; readers take consistent
    snapshots of ``rows`` first and only read rows below it."""

    rec: GrowingMatrix
    text: GrowingMatrix
    meta: list[Item]  # per row, its Item.listing()
    alive: np.ndarray  # bool per row: not deleted, not replaced, available, not blocked by the policy
    bonus: np.ndarray  # float per row: business-rule adjustment
    popularity: np.ndarray  # float per row: training count + live events
    recommendable: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))  # has a rec vector
    trained: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # training index, -1
    rec_scale: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float32))  # 1 / |rec row|
    restricted: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))  # verified adults only
    row_of: dict[str, int] = field(default_factory=dict)
    rules: list[Rule] = field(default_factory=list)
    policy: ItemPolicy = field(default_factory=ItemPolicy)
    lock: threading.RLock = field(default_factory=threading.RLock)
    version: int = 0  # bumped by every change an answer can see (rows added, removed, replaced)
    _spare: dict[str, np.ndarray] = field(default_factory=dict, repr=False)  # capacity behind per-row arrays

    @property
    def rows(self) -> int:
        return len(self.meta)

    def rule_bonus(self, meta: Item) -> float:
        total = 0.0
        for rule in self.rules:
            value = rule.value.lower()
            if (
                (rule.field == "category" and value in category_parts(meta.category))
                or (rule.field == "brand" and meta.brand.lower() == value)
                or (rule.field == "item_id" and meta.item_id.lower() == value)
            ):
                total += rule.weight
        return total

    def append(
        self,
        items: list[Item],
        rec: np.ndarray,
        text: np.ndarray,
        popularity: np.ndarray,
        recommendable: np.ndarray | None = None,
        trained: np.ndarray | None = None,
    ) -> int:
        """Adds rows (replacing older rows of the same ids); returns the first new row.
        ``recommendable``: per item, whether ``rec`` holds its vector (default all); ``trained``: its
        index in the model's training catalog, -1 for items added later (default all -1)."""
        metas = [item.listing() for item in items]
        judged = [self.policy.judge(item) for item in items]  # the whole item: text and attributes too
        with self.lock:
            start = self.rows
            self.rec.append(rec)
            self.text.append(text)
            extra = len(metas)
            self.alive = self._grown("alive", extra, False)
            self.bonus = self._grown("bonus", extra, 0.0)
            self.popularity = self._grown("popularity", extra, 0.0)
            self.recommendable = self._grown("recommendable", extra, False)
            self.trained = self._grown("trained", extra, -1)
            self.restricted = self._grown("restricted", extra, False)
            norms = np.sqrt(np.einsum("ij,ij->i", rec, rec, dtype=np.float64))
            self.rec_scale = self._grown("rec_scale", extra, 0.0)
            self.rec_scale[start:] = 1 / np.maximum(norms, 1e-12)  # a zero row stays zero
            for offset, meta in enumerate(metas):
                row = start + offset
                old = self.row_of.get(meta.item_id)
                if old is not None:
                    self.alive[old] = False
                    popularity[offset] = max(popularity[offset], self.popularity[old])
                self.meta.append(meta)
                self.row_of[meta.item_id] = row
                blocked, self.restricted[row] = judged[offset]
                self.alive[row] = meta.available and not blocked
                self.recommendable[row] = True if recommendable is None else recommendable[offset]
                self.trained[row] = -1 if trained is None else trained[offset]
                self.bonus[row] = self.rule_bonus(meta)
                self.popularity[row] = popularity[offset]
            self.version += 1
            return start

    def remove(self, item_id: str) -> bool:
        with self.lock:
            row = self.row_of.pop(item_id, None)
            if row is None:
                return False
            self.alive[row] = False
            self.version += 1
            return True

    def _grown(self, name: str, extra: int, fill: float | bool | int) -> np.ndarray:
        """The per-row array ``name`` with ``extra`` more entries of ``fill``: a prefix view of a
        buffer whose capacity doubles when full, so adding one item does not copy every row's value
        (readers holding the previous, shorter view keep reading the same memory)."""
        current: np.ndarray = getattr(self, name)
        size = len(current)
        buffer = self._spare.get(name)
        if buffer is None or current.base is not buffer or len(buffer) < size + extra:
            buffer = np.empty(max(size + extra, 2 * size, 16), dtype=current.dtype)
            buffer[:size] = current
            self._spare[name] = buffer
        grown = buffer[: size + extra]
        grown[size:] = fill
        return grown

    def unit_rec(self, rows: np.ndarray | list[int] | slice) -> np.ndarray:
        """The rows' recommendation vectors scaled to unit length (zero rows stay zero)."""
        return self.rec.array[rows] * self.rec_scale[rows, None]

    def live_row(self, item_id: str) -> int | None:
        return self.row_of.get(item_id)

    def count_events(self, item_ids: list[str]) -> None:
        with self.lock:
            for item_id, n in Counter(item_ids).items():
                row = self.row_of.get(item_id)
                if row is not None:
                    self.popularity[row] += n
