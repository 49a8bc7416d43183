"""Keeps one worker process's engine current with what other workers commit to the shared store.

Several worker processes (``workers`` > 1) each hold an engine built from the same database. Every
write lands in the store with an entry in its change log; before a request reads the engine, the
follower asks SQLite whether another connection committed anything (``PRAGMA data_version``, a
few microseconds) and, if so, has the engine apply the new entries in commit order. A reload logged
by another worker builds the new engine on a background thread while this one keeps answering with
the current one, then swaps it in, as the worker that took the request did.

Each worker also follows once a second on its own (the app's follow task), so an idle one never
falls far behind, and prunes log entries older than the retention. A worker that was stopped for
longer than that finds its entries gone and rebuilds its engine from the store before answering.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from semrec.errors import ApiError
from semrec.metrics import Metrics
from semrec.online.collector import settle
from semrec.online.engine import Engine
from semrec.store.protocol import ChangeLogPruned, Store, split_reload_key

log = logging.getLogger("semrec.online")

RESYNCS = 3  # rebuilds in a row before a request gives up (the log is pruned faster than we build)


def _rebuilding() -> ApiError:
    return ApiError(
        503,
        "this worker is rebuilding its model from the database; try again shortly",
        headers={"Retry-After": "5"},
    )


class RebuildNeeded(Exception):
    """The change-log entries this worker missed were pruned: :meth:`Follower.resync` first."""


class Follower:
    def __init__(
        self,
        engine: Engine,
        store: Store,
        build: Callable[[Path], Engine],
        metrics: Metrics,
        arm: str = "",
    ) -> None:
        self.arm = arm  # the A/B arm it serves ("" is the control): it follows that arm's reloads
        self.engine = engine
        self._store = store
        self._build = build
        self._metrics = metrics
        self.write_lock = threading.Lock()  # local writes and swaps; other processes use SQLite's
        self._version = store.data_version()
        self._seen = engine.applied_change  # reload entries up to here are handled
        self._own: set[int] = set()  # reloads this process logged (already built here)
        self._wanted = 0  # the newest reload entry: a slower, older build never replaces it
        self._reloads = threading.Lock()  # guards _own and _wanted (request loop, reload, rebuilds)
        self._pruned_at = 0.0
        # the engine ``_version`` was reached on; None after a swap or a failure: catch up again
        self._caught_up: Engine | None = engine
        self._rebuilds = 0  # rebuilds from the store finished (one at a time; waiters take its outcome)
        self._rebuild_failed = False

    def current(self) -> Engine:
        """The engine, with every write other workers committed so far applied; RebuildNeeded if
        that takes a rebuild from the store (:meth:`resync`, then ask again)."""
        version = self._store.data_version()
        engine = self.engine
        if version == self._version and engine is self._caught_up and not engine.outdated:
            return engine
        self._version = version  # first, so a commit while catching up is seen next time
        try:
            engine = self._catch_up()
        except BaseException:
            self._caught_up = None  # not caught up: the next request tries again, commit or not
            raise
        self._caught_up = engine
        return engine

    def _catch_up(self) -> Engine:
        try:
            self._follow_reloads()
        except ChangeLogPruned:
            raise RebuildNeeded from None
        while True:
            engine = self.engine
            catalog_version = engine.catalog.version
            engine.catch_up()
            if engine.outdated:
                raise RebuildNeeded
            if engine.catalog.version != catalog_version:
                self._metrics.index_items.set(int(engine.catalog.alive.sum()))
            if self.engine is engine:  # else swapped meanwhile: catch the new one up too
                return engine

    async def current_async(self) -> Engine:
        """:meth:`current` for the event loop: a rebuild from the store runs on a worker thread,
        so health checks and the routes that need no engine go on meanwhile."""
        for _ in range(RESYNCS):
            try:
                return self.current()
            except RebuildNeeded:
                await asyncio.to_thread(self.resync, self._rebuilds)
        try:
            return self.current()
        except RebuildNeeded:
            raise _rebuilding() from None

    def prune_due(self, retention: float) -> bool:
        """Whether a minute (or ``retention``, if shorter) has passed since the last prune."""
        return time.time() - self._pruned_at >= min(60.0, retention)

    def prune(self, retention: float) -> int:
        """Deletes the log entries older than ``retention`` seconds (off the event loop: it waits
        for the database's write lock and fsyncs)."""
        self._pruned_at = time.time()
        removed = self._store.prune_changes(self._pruned_at - retention)
        if removed:
            log.debug("pruned %d change-log entries", removed)
        return removed

    def resync(self, attempt: int) -> None:
        """Rebuilds the engine from the store when the log entries it missed were pruned: the
        newest reload's artifacts if this worker has not followed it yet, else the current ones.
        Requests that need the engine wait for it (one model build), which only a worker stopped
        for longer than the retention ever needs. ``attempt``: the attempts finished when the
        caller found it needed one; if another finished since, the caller takes its outcome."""
        with self.write_lock:
            if self._rebuilds != attempt:
                if self._rebuild_failed:
                    raise _rebuilding()
                return
            if not self._needs_rebuild():
                return
            try:
                engine = self._rebuild_from_store()
                self._rebuild_failed = False
            except BaseException:
                self._rebuild_failed = True
                raise
            finally:
                self._rebuilds += 1
        settle()
        self._swapped(engine)

    def _rebuild_from_store(self) -> Engine:
        mark = self._store.last_change()  # a reload logged after this is followed as usual
        newest = self._store.last_reload(self.arm)
        artifacts = self.engine.runtime.directory
        with self._reloads:
            if newest is not None and newest.seq > self._seen and newest.seq not in self._own:
                artifacts, self._wanted = Path(newest.key), max(self._wanted, newest.seq)
        log.warning("change-log entries this worker missed were pruned; rebuilding from the store")
        try:
            engine = self._build(artifacts)
        except Exception:  # validated by the worker that logged it; keep the current model
            if artifacts == self.engine.runtime.directory:
                raise
            log.exception("could not load %s; rebuilding the current model instead", artifacts)
            engine = self._build(self.engine.runtime.directory)
        self._seen = mark
        engine.catch_up()
        self.engine = engine
        self._caught_up = None
        return engine

    def _needs_rebuild(self) -> bool:
        if self.engine.outdated:
            return True
        try:
            self._store.changes_since(self._seen)
        except ChangeLogPruned:
            return True
        return False

    def reload(self, artifacts: Path) -> tuple[Engine, str]:
        """Builds and swaps in the engine of ``artifacts`` here, then logs it for the other workers;
        returns (new engine, previous version). ValueError if the artifacts cannot serve."""
        with self.write_lock:
            previous = self.engine.runtime.version
            engine = self._build(artifacts)
            engine.catch_up()
            self.engine = engine  # one reference swap: requests in flight keep the old one
            self._caught_up = None  # the next request catches the new engine up
            with self._reloads:
                seq = self._store.log_reload(str(Path(artifacts).resolve()), self.arm)
                self._own.add(seq)
                self._wanted = max(self._wanted, seq)
        settle()  # the old engine's cycles go, the new engine's objects leave the collector's view
        self._metrics.reloads.inc()  # counted once, by the worker that took the request
        self._swapped(engine)
        return engine, previous

    def _swapped(self, engine: Engine) -> None:
        self._metrics.set_model(engine.runtime.version, int(engine.catalog.alive.sum()))

    def _follow_reloads(self) -> None:
        with self._reloads:
            follow: tuple[int, Path] | None = None
            for change in self._store.changes_since(self._seen):
                self._seen = change.seq
                if change.kind != "reload" or change.seq in self._own or change.seq <= self._wanted:
                    continue
                arm, artifacts = split_reload_key(change.key)
                if arm == self.arm:
                    follow = change.seq, Path(artifacts)  # only the newest matters
            if follow is None:
                return
            self._wanted = follow[0]
        threading.Thread(target=self._rebuild, args=follow, name="semrec-reload", daemon=True).start()

    def _rebuild(self, seq: int, artifacts: Path) -> None:
        try:
            engine = self._build(artifacts)
        except Exception:  # the worker that logged it validated the folder; keep serving the old one
            current = self.engine.runtime.version
            log.exception("could not load %s, reloaded by another worker; keeping %s", artifacts, current)
            return
        with self.write_lock:
            with self._reloads:
                if seq != self._wanted:
                    return  # a newer reload was logged while this one built
            engine.catch_up()
            previous, self.engine = self.engine.runtime.version, engine
            self._caught_up = None  # the next request catches the new engine up
        settle()
        self._swapped(engine)
        log.info("reloaded %s -> %s (logged by another worker)", previous, engine.runtime.version)
