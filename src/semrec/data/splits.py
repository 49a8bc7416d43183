"""Offline evaluation splits: leave-one-out (row order) and a global time split.

Both produce the same shape: training sequences that a model may read, and evaluation cases
(history -> target set) that it is scored on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import numpy as np

from semrec.data.dataset import Dataset

SplitName = Literal["valid", "test"]


@dataclass(frozen=True)
class EvalCases:
    """Users to score, each with the history the model sees and the target items it should find."""

    users: np.ndarray  # (n,) user indices
    histories: list[np.ndarray]  # item indices, oldest first
    targets: list[np.ndarray]  # one or more item indices per user


@dataclass(frozen=True)
class Split:
    """What a model may train on, and the cases it is evaluated on."""

    protocol: str
    train: list[np.ndarray]  # per user, the item indices the model may learn from
    valid: EvalCases
    test: EvalCases
    cold_items: np.ndarray | None = None  # item indices hidden from training (cold-start protocol)
    valid_cold_items: np.ndarray | None = None  # hidden from training too, as validation's new items

    def cases(self, name: SplitName) -> EvalCases:
        if name not in ("valid", "test"):
            raise ValueError(f"unknown split {name!r}; allowed: 'valid', 'test'")
        return self.valid if name == "valid" else self.test


def leave_one_out(dataset: Dataset) -> Split:
    """Leave-one-out by row order: s_n is the test target, s_(n-1) the validation target.

    Training sees s_1..s_(n-2) of every user; users with fewer than 3 events are not evaluated.
    """
    sequences = dataset.sequences
    train = [s[:-2] if len(s) >= 2 else s[:0] for s in sequences]
    evaluated = np.array([u for u, s in enumerate(sequences) if len(s) >= 3], dtype=np.int64)
    valid = EvalCases(
        users=evaluated,
        histories=[sequences[u][:-2] for u in evaluated],
        targets=[sequences[u][-2:-1] for u in evaluated],
    )
    test = EvalCases(
        users=evaluated,
        histories=[sequences[u][:-1] for u in evaluated],
        targets=[sequences[u][-1:] for u in evaluated],
    )
    return Split(protocol="leave-one-out", train=train, valid=valid, test=test)


def _epoch(day: str) -> float:
    try:
        return datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp()
    except ValueError:
        raise ValueError(f"date {day!r} is not ISO-8601 (for example 2011-11-01)") from None


def time_split(
    dataset: Dataset,
    valid_start: str,
    test_start: str,
    target_event_column: str = "event",
    target_event_value: str = "purchase",
) -> Split:
    """Global time split: train before ``valid_start``, validate until ``test_start``, test after.

    A user's targets in a period are the items they bought in it and had never bought before it;
    users with no history before the period, or no new items in it, are not evaluated. Events with
    an unknown time are left out. When the interactions have ``target_event_column``, only rows with
    ``target_event_value`` count as targets (all rows count as history).
    """
    t_valid, t_test = _epoch(valid_start), _epoch(test_start)
    if not t_valid < t_test:
        raise ValueError(f"valid_start {valid_start} must come before test_start {test_start}")
    frame = dataset.interactions
    has_event = target_event_column in frame.columns
    is_target_row = (
        (frame[target_event_column] == target_event_value).to_numpy()
        if has_event
        else np.ones(len(frame), dtype=bool)
    )
    per_user_target = dataset.per_user(is_target_row)
    train: list[np.ndarray] = []
    cases: dict[str, tuple[list[int], list[np.ndarray], list[np.ndarray]]] = {
        "valid": ([], [], []),
        "test": ([], [], []),
    }
    for user, (items, times) in enumerate(zip(dataset.sequences, dataset.timestamps, strict=True)):
        known = ~np.isnan(times)
        train.append(items[known & (times < t_valid)])
        targetable = per_user_target[user]
        for name, start, end in (("valid", t_valid, t_test), ("test", t_test, np.inf)):
            history = items[known & (times < start)]
            if len(history) == 0:
                continue
            bought_before = set(items[known & (times < start) & targetable].tolist())
            in_period = items[known & (times >= start) & (times < end) & targetable]
            new = [i for i in dict.fromkeys(in_period.tolist()) if i not in bought_before]
            if new:
                users, histories, targets = cases[name]
                users.append(user)
                histories.append(history)
                targets.append(np.array(new, dtype=np.int64))

    def build(name: str) -> EvalCases:
        users, histories, targets = cases[name]
        return EvalCases(np.array(users, dtype=np.int64), histories, targets)

    return Split(protocol="time", train=train, valid=build("valid"), test=build("test"))


def cold_item_split(dataset: Dataset, fraction: float = 0.1, seed: int = 0) -> Split:
    """Item cold start: a random ``fraction`` of items is removed from every training sequence.

    Test cases are the leave-one-out test cases whose target is a removed item (their histories are
    kept whole: the shop knows what the shopper did). Validation must judge new products too, without
    touching the test's: a second random set is removed from training as well, and validation keeps
    every case whose target is not a test item, so its new-product targets come in the proportion the
    catalog holds them (a setting cannot win by ranking every new item first). That set is the same
    ``fraction`` of the items validation ranks (the test's hidden ones are none of them), so that
    validation's next items are new about as often as the test period's are: what validation fits
    (how far new products rise against seen ones) is fitted for the world the test is drawn from.
    """
    if not 0 < fraction < 1:
        raise ValueError(f"cold fraction must lie between 0 and 1, got {fraction}")
    base = leave_one_out(dataset)
    rng = np.random.default_rng(seed)
    cold = np.zeros(dataset.n_items, dtype=bool)
    cold[rng.choice(dataset.n_items, size=max(1, round(fraction * dataset.n_items)), replace=False)] = True
    valid_cold = np.zeros(dataset.n_items, dtype=bool)
    rest = np.flatnonzero(~cold)
    size = min(len(rest) - 1, round(fraction * len(rest)))
    if size > 0:
        valid_cold[np.random.default_rng(seed + 1).choice(rest, size=size, replace=False)] = True
    hidden = cold | valid_cold
    train = [s[~hidden[s]] for s in base.train]

    def keep(cases: EvalCases, want_cold: bool) -> EvalCases:
        rows = [r for r, t in enumerate(cases.targets) if bool(cold[t[0]]) == want_cold]
        return EvalCases(
            cases.users[rows], [cases.histories[r] for r in rows], [cases.targets[r] for r in rows]
        )

    return Split(
        protocol="cold-items",
        train=train,
        valid=keep(base.valid, False),
        test=keep(base.test, True),
        cold_items=np.flatnonzero(cold),
        valid_cold_items=np.flatnonzero(valid_cold),
    )
