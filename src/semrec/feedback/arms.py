"""A/B arms: several models served side by side, each shopper assigned to one by a keyed hash.

A shopper's bucket is ``HMAC(secret, experiment + pseudonym)`` read as a number in [0, 1); arm i
takes the buckets between the shares of the arms before it and its own. The secret lives in the
database, so every worker and node assigns a shopper to the same arm, request after request. A
stopped arm's shoppers go to the control (the first arm); everyone else stays where they were.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections.abc import Sequence
from dataclasses import dataclass

ARM_PATTERN = r"^[A-Za-z0-9_-]{1,40}$"
SHARE_TOLERANCE = 1e-6


@dataclass(frozen=True)
class ArmPlan:
    """One arm as configured: its name and the share of shoppers it is meant to get."""

    name: str
    share: float


def check_plan(arms: Sequence[ArmPlan]) -> None:
    """ValueError naming the problem unless the arms have distinct names and shares summing to 1."""
    if not arms:
        raise ValueError("an experiment needs at least one arm")
    names = [a.name for a in arms]
    if len(set(names)) != len(names):
        raise ValueError(f"arm names must be distinct, got {names}")
    bad = [a.name for a in arms if not 0 < a.share <= 1]
    if bad:
        raise ValueError(f"arm shares must be in (0, 1]; arms {bad} are not")
    total = sum(a.share for a in arms)
    if abs(total - 1) > SHARE_TOLERANCE:
        raise ValueError(f"arm shares must add up to 1, they add up to {total:.6f}")


class Assignment:
    """Which arm serves a shopper. Thread-safe; ``stopped`` may change while requests run."""

    def __init__(self, experiment: str, arms: Sequence[ArmPlan], secret: bytes) -> None:
        check_plan(arms)
        self.experiment = experiment
        self.arms = list(arms)
        self._key = hmac.new(secret, b"semrec-arms", hashlib.sha256).digest()
        self._stopped: frozenset[str] = frozenset()
        self._lock = threading.Lock()
        self._bounds: list[float] = []
        running = 0.0
        for arm in self.arms:
            running += arm.share
            self._bounds.append(running)

    @property
    def control(self) -> str:
        return self.arms[0].name

    @property
    def stopped(self) -> frozenset[str]:
        return self._stopped

    def set_stopped(self, names: set[str] | frozenset[str]) -> None:
        unknown = set(names) - {a.name for a in self.arms}
        if unknown:
            raise ValueError(f"no arm named {sorted(unknown)}")
        if self.control in names:
            raise ValueError(f"the control arm {self.control!r} cannot be stopped")
        with self._lock:
            self._stopped = frozenset(names)

    def bucket(self, user_key: str) -> float:
        """The shopper's place in [0, 1), the same in every process holding the secret."""
        message = f"{self.experiment}\x00{user_key}".encode()
        digest = hmac.new(self._key, message, hashlib.sha256).digest()
        return int.from_bytes(digest[:8], "big") / 2**64

    def configured(self, user_key: str) -> str:
        """The arm the shares give the shopper, stopped or not."""
        u = self.bucket(user_key)
        for arm, bound in zip(self.arms, self._bounds, strict=True):
            if u < bound:
                return arm.name
        return self.arms[-1].name  # rounding: the shares add up to 1 within SHARE_TOLERANCE

    def assign(self, user_key: str) -> str:
        """The arm that serves the shopper now."""
        arm = self.configured(user_key)
        return self.control if arm in self._stopped else arm
