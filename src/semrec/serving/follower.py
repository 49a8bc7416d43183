"""Keeps one worker process's engine current with what other workers commit to the shared store.

Several worker processes (``workers`` > 1) each hold an engine built from the same database. Every
write lands in the store with an entry in its change log; before a request reads the engine, the
follower asks SQLite whether another connection committed anything (``PRAGMA data_version``, a
few microseconds) and, if so, has the engine apply the new entries in commit order. A reload logged
by another worker builds the new engine on a background thread while this one keeps answering with
the current one, then swaps it in, as the worker that took the request did.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from semrec.serving.collector import settle
from semrec.serving.engine import Engine
from semrec.serving.metrics import Metrics
from semrec.serving.store import Store

log = logging.getLogger("semrec.serving")


class Follower:
    def __init__(
        self,
        engine: Engine,
        store: Store,
        build: Callable[[Path], Engine],
        metrics: Metrics,
    ) -> None:
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

    def current(self) -> Engine:
        """The engine, with every write other workers committed so far applied."""
        version = self._store.data_version()
        if version != self._version:
            self._version = version  # first, so a commit while catching up is seen next time
            self._follow_reloads()
            while True:
                engine = self.engine
                catalog_version = engine.catalog.version
                engine.catch_up()
                if engine.catalog.version != catalog_version:
                    self._metrics.index_items.set(int(engine.catalog.alive.sum()))
                if self.engine is engine:  # else swapped meanwhile: catch the new one up too
                    break
        return self.engine

    def reload(self, artifacts: Path) -> tuple[Engine, str]:
        """Builds and swaps in the engine of ``artifacts`` here, then logs it for the other workers;
        returns (new engine, previous version). ValueError if the artifacts cannot serve."""
        with self.write_lock:
            previous = self.engine.runtime.version
            engine = self._build(artifacts)
            engine.catch_up()
            self.engine = engine  # one reference swap: requests in flight keep the old one
            self._version = -1  # the next request catches the new engine up, whatever committed since
            with self._reloads:
                seq = self._store.log_reload(str(Path(artifacts).resolve()))
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
            follow = None
            for change in self._store.changes_since(self._seen):
                self._seen = change.seq
                if change.kind == "reload" and change.seq not in self._own and change.seq > self._wanted:
                    follow = change  # only the newest matters
            if follow is None:
                return
            self._wanted = follow.seq
        threading.Thread(
            target=self._rebuild, args=(follow.seq, Path(follow.key)), name="semrec-reload", daemon=True
        ).start()

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
            self._version = -1  # the next request catches the new engine up, whatever committed since
        settle()
        self._swapped(engine)
        log.info("reloaded %s -> %s (logged by another worker)", previous, engine.runtime.version)
