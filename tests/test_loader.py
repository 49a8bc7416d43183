from __future__ import annotations

import gzip
import math
from pathlib import Path

import numpy as np
import pytest

from semrec.data import DatasetError, load_dataset
from tests.conftest import TINY_EVENTS, TINY_ITEMS, write_dataset


def test_loads_tiny_dataset_in_row_order(tiny_dir: Path) -> None:
    dataset = load_dataset(tiny_dir)
    assert (dataset.n_users, dataset.n_items, dataset.n_interactions) == (5, 6, 16)
    assert dataset.name == "tiny"
    u1 = [dataset.item_ids[i] for i in dataset.sequences[0]]
    assert u1 == ["a", "b", "c", "d"]
    u3 = [dataset.item_ids[i] for i in dataset.sequences[2]]
    assert u3 == ["c", "d", "a", "b"]
    assert math.isnan(dataset.timestamps[4][0])  # empty timestamp is allowed and kept as unknown
    assert dataset.timestamps[4][1] == 10.0


def test_row_order_is_authoritative_even_when_users_interleave(tmp_path: Path) -> None:
    events = [("u1", "a", "5"), ("u2", "b", "1"), ("u1", "c", "1"), ("u2", "a", "9")]
    dataset = load_dataset(write_dataset(tmp_path / "d", TINY_ITEMS, events))
    assert [dataset.item_ids[i] for i in dataset.sequences[0]] == ["a", "c"]
    assert [dataset.item_ids[i] for i in dataset.sequences[1]] == ["b", "a"]


def test_extra_columns_are_kept(tmp_path: Path) -> None:
    items = [("a", "A", "1.5", "acme"), ("b", "B", "", "zeta")]
    events = [("u1", "a", "1", "purchase", "UK"), ("u1", "b", "2", "return", "FR")]
    directory = write_dataset(
        tmp_path / "d",
        items,
        events,
        item_header=("item_id", "title", "price", "brand"),
        event_header=("user_id", "item_id", "timestamp", "event", "country"),
    )
    dataset = load_dataset(directory)
    assert list(dataset.items.columns) == ["item_id", "title", "price", "brand"]
    assert dataset.items["price"].iloc[0] == 1.5 and np.isnan(dataset.items["price"].iloc[1])
    assert list(dataset.interactions["event"]) == ["purchase", "return"]
    assert list(dataset.interactions["country"]) == ["UK", "FR"]


def test_iso_dates_are_accepted(tmp_path: Path) -> None:
    events = [("u1", "a", "1970-01-02"), ("u1", "b", "1970-01-01T00:00:10+00:00")]
    dataset = load_dataset(write_dataset(tmp_path / "d", TINY_ITEMS, events))
    assert list(dataset.timestamps[0]) == [86400.0, 10.0]


def _error(directory: Path) -> DatasetError:
    with pytest.raises(DatasetError) as caught:
        load_dataset(directory)
    return caught.value


@pytest.mark.parametrize(
    ("events", "line", "words"),
    [
        ([("u1", "a", "1"), ("u1", "b", "2", "extra")], 3, "malformed row: 4 fields"),
        ([("u1", "a", "1"), ("u1", "zzz", "2")], 3, "'zzz' is not in the catalog"),
        ([("u1", "a", "1"), ("", "b", "2")], 3, "empty user_id"),
        ([("u1", "a", "1"), ("u1", " ", "2")], 3, "empty item_id"),
        ([("u1", "a", "1"), ("u1", "b", "yesterday")], 3, "not a number of seconds"),
        ([("u1", "a", "1"), ("u1", "b", "2"), ("u1", "c", "inf")], 4, "not finite"),
    ],
)
def test_bad_interactions_name_file_and_line(
    tmp_path: Path, events: list[tuple[str, ...]], line: int, words: str
) -> None:
    error = _error(write_dataset(tmp_path / "d", TINY_ITEMS, events))
    assert error.path.name == "interactions.csv.gz"
    assert error.line == line
    assert words in str(error)
    assert f"interactions.csv.gz:{line}:" in str(error)


@pytest.mark.parametrize(
    ("items", "line", "words"),
    [
        ([("a", "A"), ("", "B")], 3, "empty item_id"),
        ([("a", "A"), ("b", "B"), ("a", "again")], 4, "repeats the item of line 2"),
        ([("a", "A"), ("b",)], 3, "malformed row: 1 fields"),
    ],
)
def test_bad_items_name_file_and_line(
    tmp_path: Path, items: list[tuple[str, ...]], line: int, words: str
) -> None:
    error = _error(write_dataset(tmp_path / "d", items, [("u1", "a", "1")]))
    assert error.path.name == "items.csv"
    assert (error.line, words in str(error)) == (line, True)


def test_missing_column_names_what_is_required(tmp_path: Path) -> None:
    error = _error(
        write_dataset(tmp_path / "d", TINY_ITEMS, TINY_EVENTS, event_header=("user", "item_id", "timestamp"))
    )
    assert error.line == 1 and "lacks column(s) ['user_id']" in str(error)


def test_missing_files_and_folder(tmp_path: Path) -> None:
    assert "not a directory" in str(_error(tmp_path / "nowhere"))
    directory = write_dataset(tmp_path / "d", TINY_ITEMS, TINY_EVENTS)
    (directory / "interactions.csv.gz").unlink()
    assert "no interactions file" in str(_error(directory))


def test_corrupt_gzip_is_a_clear_error(tmp_path: Path) -> None:
    directory = write_dataset(tmp_path / "d", TINY_ITEMS, TINY_EVENTS)
    (directory / "interactions.csv.gz").write_bytes(
        gzip.compress(b"user_id,item_id,timestamp\nu1,a,1\n")[:30]
    )
    error = _error(directory)
    assert error.path.name == "interactions.csv.gz" and "unreadable" in str(error)


def test_real_dataset_loads(beauty_dir: Path) -> None:
    dataset = load_dataset(beauty_dir)
    assert (dataset.n_users, dataset.n_items, dataset.n_interactions) == (22363, 12101, 198502)
