from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from semrec.data import leave_one_out, load_dataset, time_split
from semrec.data.splits import cold_item_split
from tests.conftest import write_dataset


def _ids(dataset_items: np.ndarray, indices: np.ndarray) -> list[str]:
    return [str(dataset_items[i]) for i in indices]


def test_leave_one_out_exactly_as_protocol(tiny_dir: Path) -> None:
    dataset = load_dataset(tiny_dir)
    split = leave_one_out(dataset)
    ids = dataset.item_ids
    # u1: a b c d -> train a b; valid: a b -> c; test: a b c -> d
    assert _ids(ids, split.train[0]) == ["a", "b"]
    assert list(split.test.users) == [0, 1, 2, 4]  # u4 has only two events: not evaluated
    assert _ids(ids, split.valid.histories[0]) == ["a", "b"] and _ids(ids, split.valid.targets[0]) == ["c"]
    assert _ids(ids, split.test.histories[0]) == ["a", "b", "c"] and _ids(ids, split.test.targets[0]) == ["d"]
    assert _ids(ids, split.train[3]) == []  # u4: f e -> nothing before position n-2


def test_nothing_from_a_later_position_reaches_training(tmp_path: Path) -> None:
    # every (user, position) gets its own item, so any leak would show as a foreign item in training
    rng = np.random.default_rng(0)
    items = [(f"i{n}", f"item {n}") for n in range(400)]
    events, position_of = [], {}
    n = 0
    for user in range(40):
        for position in range(int(rng.integers(1, 9))):
            events.append((f"u{user}", f"i{n}", "0"))
            position_of[f"i{n}"] = (f"u{user}", position)
            n += 1
    dataset = load_dataset(write_dataset(tmp_path / "d", items, events))
    split = leave_one_out(dataset)
    for user, train in enumerate(split.train):
        length = len(dataset.sequences[user])
        for item in train:
            owner, position = position_of[str(dataset.item_ids[item])]
            assert owner == dataset.user_ids[user] and position < length - 2
    held_out = {int(t[0]) for t in split.valid.targets} | {int(t[0]) for t in split.test.targets}
    assert held_out.isdisjoint(np.concatenate(split.train).tolist())
    for cases in (split.valid, split.test):
        for history, target in zip(cases.histories, cases.targets, strict=True):
            assert int(target[0]) not in history.tolist()


def test_time_split_targets_are_new_purchases_in_the_period(tmp_path: Path) -> None:
    day = 86400
    t0 = 1320105600  # 2011-11-01
    events = [
        ("u1", "a", str(t0 - 5 * day), "purchase"),
        ("u1", "b", str(t0 + 1 * day), "purchase"),  # valid: new
        ("u1", "a", str(t0 + 2 * day), "purchase"),  # valid: bought before -> not a target
        ("u1", "c", str(t0 + 20 * day), "purchase"),  # test: new
        ("u1", "b", str(t0 + 21 * day), "purchase"),  # test: bought in valid -> not a target
        ("u1", "d", str(t0 + 22 * day), "return"),  # not a purchase -> not a target
        ("u2", "c", str(t0 + 3 * day), "purchase"),  # no history before valid: not evaluated there
        ("u2", "e", "", "purchase"),  # unknown time: left out
    ]
    dataset = load_dataset(
        write_dataset(
            tmp_path / "d",
            [(x, x) for x in "abcde"],
            events,
            event_header=("user_id", "item_id", "timestamp", "event"),
        )
    )
    split = time_split(dataset, "2011-11-01", "2011-11-15")
    ids = dataset.item_ids
    assert [_ids(ids, t) for t in split.train] == [["a"], []]
    assert list(split.valid.users) == [0] and _ids(ids, split.valid.targets[0]) == ["b"]
    assert list(split.test.users) == [0] and _ids(ids, split.test.targets[0]) == ["c"]
    assert _ids(ids, split.test.histories[0]) == ["a", "b", "a"]
    assert list(split.test.users) == [0]
    with pytest.raises(ValueError, match="must come before"):
        time_split(dataset, "2011-11-15", "2011-11-01")


def test_cold_item_split_hides_items_from_training_and_tests_only_on_them(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    items = [(f"i{n}", f"item {n}") for n in range(50)]
    events = [(f"u{u}", f"i{int(i)}", "0") for u in range(60) for i in rng.choice(50, size=6, replace=False)]
    dataset = load_dataset(write_dataset(tmp_path / "d", items, events))
    split = cold_item_split(dataset, fraction=0.2, seed=1)
    assert split.cold_items is not None and len(split.cold_items) == 10
    cold = set(split.cold_items.tolist())
    assert cold.isdisjoint(np.concatenate(split.train).tolist())
    full = leave_one_out(dataset)
    expected = [u for u, t in zip(full.test.users, full.test.targets, strict=True) if int(t[0]) in cold]
    assert split.test.users.tolist() == expected and expected
    assert all(int(t[0]) in cold for t in split.test.targets)
    assert not any(int(t[0]) in cold for t in split.valid.targets)
    # validation judges new products too: its own, the same share (0.2) of the 40 items it ranks,
    # hidden from training as well
    assert split.valid_cold_items is not None and len(split.valid_cold_items) == 8
    valid_cold = set(split.valid_cold_items.tolist())
    assert valid_cold.isdisjoint(cold) and valid_cold.isdisjoint(np.concatenate(split.train).tolist())
    targets = [int(t[0]) for t in split.valid.targets]
    assert any(t in valid_cold for t in targets) and any(t not in valid_cold for t in targets)
    kept = [u for u, t in zip(full.valid.users, full.valid.targets, strict=True) if int(t[0]) not in cold]
    assert split.valid.users.tolist() == kept  # every other case, in the catalog's own proportion
    with pytest.raises(ValueError, match="between 0 and 1"):
        cold_item_split(dataset, fraction=1.5)
