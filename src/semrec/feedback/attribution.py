"""Request ids: every list answer names itself, so the events that follow can say which answer (and
which position in it) led to them.

A request id carries what attribution needs and is signed with the server's secret, so any worker
or node reads it without a lookup and nobody can forge one::

    {list}.{arm}.{model}.{shown}.{nonce}.{signature}

``model`` is a short hash of the model version (the exposure counts keep the version itself).
Answers are counted (exposures) in memory and added to the database about once a second by each
worker: a worker killed outright forgets at most that second of counts, never an event.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
from collections import Counter
from dataclasses import dataclass

LISTS = ("recommendations", "similar", "search", "ads")
_SHAPE = re.compile(
    r"^([a-z]+)\.([A-Za-z0-9_-]{1,40})\.([0-9a-f]{8})\.([0-9]{1,4})\.([0-9a-f]{12})\.([0-9a-f]{16})$"
)


def model_key(version: str) -> str:
    """The short hash a request id names a model version by."""
    return hashlib.sha256(version.encode()).hexdigest()[:8]


@dataclass(frozen=True)
class Answer:
    """What a request id says: the list it answered, the arm and model that served it, its length."""

    request_id: str
    list: str
    arm: str
    model: str
    shown: int


@dataclass(frozen=True)
class Exposure:
    arm: str
    list: str
    model: str
    model_version: str


class RequestIds:
    """Issues and reads request ids, and counts the answers issued (:meth:`take` hands them over)."""

    def __init__(self, secret: bytes) -> None:
        self._key = hmac.new(secret, b"semrec-request-ids", hashlib.sha256).digest()
        self._lock = threading.Lock()
        self._answers: Counter[Exposure] = Counter()
        self._items: Counter[Exposure] = Counter()

    def _sign(self, body: str) -> str:
        return hmac.new(self._key, body.encode(), hashlib.sha256).hexdigest()[:16]

    def issue(self, list_name: str, arm: str, model_version: str, shown: int) -> str:
        """A new answer's id; counts the answer and the ``shown`` items it holds."""
        if list_name not in LISTS:
            raise ValueError(f"list {list_name!r} is not one of {list(LISTS)}")
        model = model_key(model_version)
        body = f"{list_name}.{arm}.{model}.{shown}.{secrets.token_hex(6)}"
        exposure = Exposure(arm, list_name, model, model_version)
        with self._lock:
            self._answers[exposure] += 1
            self._items[exposure] += shown
        return f"{body}.{self._sign(body)}"

    def read(self, request_id: str) -> Answer | None:
        """The answer a request id names, or None if this server did not issue it."""
        match = _SHAPE.match(request_id)
        if match is None or match.group(1) not in LISTS:
            return None
        body = request_id[: request_id.rfind(".")]
        if not hmac.compare_digest(self._sign(body), match.group(6)):
            return None
        return Answer(request_id, match.group(1), match.group(2), match.group(3), int(match.group(4)))

    def take(self) -> list[tuple[Exposure, int, int]]:
        """The (exposure, answers, items) counted since the last call, now handed to the caller."""
        with self._lock:
            taken = [(e, n, self._items[e]) for e, n in self._answers.items()]
            self._answers.clear()
            self._items.clear()
        return taken

    def give_back(self, taken: list[tuple[Exposure, int, int]]) -> None:
        """Counts :meth:`take` handed over that could not be stored: kept for the next attempt."""
        with self._lock:
            for exposure, answers, items in taken:
                self._answers[exposure] += answers
                self._items[exposure] += items
