"""A bounded per-shopper cache whose entries are valid only for the inputs they were built from."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable, Iterator
from typing import Generic, TypeVar

Value = TypeVar("Value")


class ShopperCache(Generic[Value]):
    """shopper pseudonym -> (inputs, value), least recently used first out.

    A lookup returns the value only when the inputs are the same as when it was stored, so a
    changed history (or request, or catalog) is a miss without any explicit invalidation.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[str, tuple[Hashable, Value]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, user: str, inputs: Hashable) -> Value | None:
        with self._lock:
            entry = self._entries.get(user)
            if entry is None or entry[0] != inputs:
                return None
            self._entries.move_to_end(user)
            return entry[1]

    def put(self, user: str, inputs: Hashable, value: Value) -> None:
        if self.capacity <= 0:
            return
        with self._lock:
            self._entries[user] = (inputs, value)
            self._entries.move_to_end(user)
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __contains__(self, user: object) -> bool:
        return user in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._entries))
