"""Group commit: batches written by concurrent callers share one transaction (one fsync).

A caller hands its batch in and waits. Whoever finds no write in progress becomes the writer: it
takes every batch waiting so far, its own included, writes them in one transaction and wakes their
callers, each of whom returns only once its batch is committed. Nothing is acknowledged before it is
durable; under load, many requests' events ride on one commit instead of one fsync each.

If the shared transaction fails (one batch breaks a constraint, say), each batch of it is retried
alone, so every caller gets the outcome of its own batch.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass
class _Waiting(Generic[T]):
    batch: list[T]
    done: bool = False
    error: BaseException | None = None


@dataclass
class _Round(Generic[T]):
    waiting: list[_Waiting[T]] = field(default_factory=list)


class GroupCommit(Generic[T]):
    def __init__(self, write: Callable[[Sequence[list[T]]], None], max_items: int = 50_000) -> None:
        """``write`` stores the given batches in one transaction (all or none of them);
        ``max_items``: at most this many items per transaction (a batch is never split; 0: one
        batch per transaction, as without group commit)."""
        self._write = write
        self._max_items = max_items
        self._cond = threading.Condition()
        self._queue: list[_Waiting[T]] = []
        self._writing = False
        self.commits = 0  # transactions written, for tests and benchmarks
        self.batches = 0

    def submit(self, batch: list[T]) -> None:
        """Returns once ``batch`` is committed; raises what its write raised."""
        mine = _Waiting(batch)
        with self._cond:
            self._queue.append(mine)
        while True:
            with self._cond:
                while self._writing and not mine.done:
                    self._cond.wait()
                if mine.done:
                    break
                self._writing = True
                group = self._take()  # first come, first served: ours too unless the group is full
            try:
                self._commit(group)
            finally:
                with self._cond:
                    self._writing = False
                    self._cond.notify_all()
        if mine.error is not None:
            raise mine.error

    def _take(self) -> list[_Waiting[T]]:
        group: list[_Waiting[T]] = []
        size = 0
        while self._queue and (not group or size + len(self._queue[0].batch) <= self._max_items):
            waiting = self._queue.pop(0)
            group.append(waiting)
            size += len(waiting.batch)
        return group

    def _commit(self, group: list[_Waiting[T]]) -> None:
        try:
            self._write([w.batch for w in group])
            self.commits += 1
        except BaseException as error:
            if len(group) == 1:
                group[0].error = error
            else:  # each batch alone, so one bad batch fails only its own caller
                for waiting in group:
                    try:
                        self._write([waiting.batch])
                        self.commits += 1
                    except BaseException as own:
                        waiting.error = own
        self.batches += len(group)
        with self._cond:
            for waiting in group:
                waiting.done = True
