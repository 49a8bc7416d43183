"""Reading and validating a dataset directory (``items.csv`` + ``interactions.csv.gz``).

Every row is checked; the first problem raises :class:`DatasetError` naming the file and line, and
nothing is returned half-loaded.
"""

from __future__ import annotations

import csv
import gzip
import io
import math
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from semrec.data.dataset import Dataset
from semrec.data.errors import DatasetError

ITEM_COLUMNS = ("item_id", "title")
INTERACTION_COLUMNS = ("user_id", "item_id", "timestamp")
INTERACTION_FILES = ("interactions.csv.gz", "interactions.csv")


def parse_timestamp(value: str) -> float:
    """Seconds since the epoch from epoch seconds or an ISO-8601 date; NaN for an empty value.

    Raises:
        ValueError: with the allowed forms, when the value is neither.
    """
    text = value.strip()
    if not text:
        return math.nan
    try:
        number = float(text)
    except ValueError:
        pass
    else:
        if math.isfinite(number):
            return number
        raise ValueError(f"timestamp {value!r} is not finite")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"timestamp {value!r} is not a number of seconds since 1970 nor an ISO-8601 date "
            "(allowed: 1318896000, 2011-10-18, 2011-10-18T09:30:00+00:00, or empty)"
        ) from None
    return moment.timestamp() if moment.tzinfo else moment.replace(tzinfo=UTC).timestamp()


def _open_text(path: Path) -> io.TextIOBase:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")


def _rows(path: Path, required: tuple[str, ...]) -> Iterator[tuple[int, list[str], list[str]]]:
    """Yields (line number, header, row) after checking the header and each row's width."""
    try:
        handle = _open_text(path)
    except OSError as error:
        raise DatasetError(path, None, f"cannot open: {error.strerror or error}") from None
    with handle:
        reader = csv.reader(handle)
        try:
            header = next(reader)
        except StopIteration:
            raise DatasetError(
                path, 1, f"file is empty; expected a header with {', '.join(required)}"
            ) from None
        except (csv.Error, UnicodeDecodeError, OSError, EOFError) as error:
            raise DatasetError(path, 1, f"unreadable header: {error}") from None
        header = [h.strip() for h in header]
        if header and header[0].startswith("\ufeff"):
            header[0] = header[0][1:]
        missing = [c for c in required if c not in header]
        if missing:
            raise DatasetError(
                path, 1, f"header lacks column(s) {missing}; required: {list(required)}, found: {header}"
            )
        if len(set(header)) != len(header):
            raise DatasetError(path, 1, f"header repeats a column name: {header}")
        try:
            for row in reader:
                if not row:
                    continue
                if len(row) != len(header):
                    raise DatasetError(
                        path,
                        reader.line_num,
                        f"malformed row: {len(row)} fields where the header has {len(header)} "
                        f"({', '.join(header)})",
                    )
                yield reader.line_num, header, row
        except (csv.Error, UnicodeDecodeError, OSError, EOFError) as error:
            raise DatasetError(path, reader.line_num + 1, f"unreadable row: {error}") from None


def _numeric_where_possible(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    for column in columns:
        values = frame[column]
        converted = pd.to_numeric(values.replace("", np.nan), errors="coerce")
        # only convert when every non-empty value is numeric; otherwise keep the text as given
        if converted.notna().sum() == (values != "").sum():
            frame[column] = converted
    return frame


def load_items(path: Path) -> pd.DataFrame:
    """Reads ``items.csv``: unique, non-empty ``item_id``; ``title`` may be empty; extra columns kept."""
    records: list[list[str]] = []
    header: list[str] = []
    seen: dict[str, int] = {}
    for line, header, row in _rows(path, ITEM_COLUMNS):
        item_id = row[header.index("item_id")].strip()
        if not item_id:
            raise DatasetError(path, line, "empty item_id; every item needs a non-empty id")
        if item_id in seen:
            raise DatasetError(path, line, f"item_id {item_id!r} repeats the item of line {seen[item_id]}")
        seen[item_id] = line
        row[header.index("item_id")] = item_id
        records.append(row)
    if not records:
        raise DatasetError(path, None, "no items: the catalog must list at least one item")
    frame = pd.DataFrame(records, columns=header, dtype=object)
    extras = [c for c in header if c not in ITEM_COLUMNS]
    frame = _numeric_where_possible(frame, extras)
    front = list(ITEM_COLUMNS)
    return frame[front + extras].reset_index(drop=True)


def load_interactions(path: Path, item_index: dict[str, int]) -> tuple[pd.DataFrame, np.ndarray]:
    """Reads the event log, keeping row order; every item must be in the catalog."""
    users: dict[str, int] = {}
    user_idx: list[int] = []
    item_idx: list[int] = []
    raw_times: list[str] = []
    lines: list[int] = []
    columns: list[list[str]] = []
    header: list[str] = []
    for line, header, row in _rows(path, INTERACTION_COLUMNS):
        if not columns:
            u_col, i_col, t_col = (header.index(c) for c in INTERACTION_COLUMNS)
            extra_cols = [j for j in range(len(header)) if j not in (u_col, i_col, t_col)]
            columns = [[] for _ in extra_cols]
        user_id, item_id = row[u_col].strip(), row[i_col].strip()
        index = item_index.get(item_id)
        if index is None or not user_id:
            _raise_for_ids(path, line, user_id, item_id)
        user_idx.append(users.setdefault(user_id, len(users)))
        item_idx.append(index)  # type: ignore[arg-type]
        raw_times.append(row[t_col])
        lines.append(line)
        for values, j in zip(columns, extra_cols, strict=True):
            values.append(row[j])
    if not user_idx:
        raise DatasetError(path, None, "no interactions: the file has a header but no events")
    times = _parse_timestamps(path, raw_times, lines)
    user_ids = np.array(list(users), dtype=object)
    item_ids = np.array(list(item_index), dtype=object)
    frame = pd.DataFrame(
        {
            "user_id": user_ids[np.asarray(user_idx)],
            "item_id": item_ids[np.asarray(item_idx)],
            "timestamp": times,
        }
    )
    extras = [c for c in header if c not in INTERACTION_COLUMNS]
    if extras:
        extra_frame = pd.DataFrame(dict(zip(extras, columns, strict=True)), dtype=object)
        frame = pd.concat([frame, _numeric_where_possible(extra_frame, extras)], axis=1)
    frame["user_idx"] = np.asarray(user_idx, dtype=np.int64)
    frame["item_idx"] = np.asarray(item_idx, dtype=np.int64)
    return frame, user_ids


def _raise_for_ids(path: Path, line: int, user_id: str, item_id: str) -> None:
    if not user_id:
        raise DatasetError(path, line, "empty user_id; every event needs the shopper's id")
    if not item_id:
        raise DatasetError(path, line, "empty item_id; every event needs the product's id")
    raise DatasetError(
        path, line, f"item_id {item_id!r} is not in the catalog (items.csv); add the item first"
    )


def _parse_timestamps(path: Path, raw: list[str], lines: list[int]) -> np.ndarray:
    """Fast path for numeric columns; falls back to row-by-row parsing (and its errors) otherwise."""
    column = pd.Series(raw, dtype=object).str.strip()
    empty = (column == "").to_numpy()
    numbers = pd.to_numeric(column.where(~empty, None), errors="coerce").to_numpy(dtype=np.float64, copy=True)
    unparsed = np.flatnonzero(np.isnan(numbers) & ~empty)
    for position in unparsed:
        try:
            numbers[position] = parse_timestamp(raw[position])
        except ValueError as error:
            raise DatasetError(path, lines[position], str(error)) from None
    if not np.isfinite(numbers[~np.isnan(numbers)]).all():
        bad = int(np.flatnonzero(np.isinf(numbers))[0])
        raise DatasetError(path, lines[bad], f"timestamp {raw[bad]!r} is not finite")
    return numbers


def find_interactions_file(directory: Path) -> Path:
    for name in INTERACTION_FILES:
        if (directory / name).exists():
            return directory / name
    raise DatasetError(directory, None, f"no interactions file; expected one of {list(INTERACTION_FILES)}")


def load_dataset(directory: Path | str) -> Dataset:
    """Loads and validates a dataset directory in the shared format.

    Raises:
        DatasetError: naming the file and line of the first problem found.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise DatasetError(
            directory, None, "not a directory; expected a folder with items.csv and interactions"
        )
    items = load_items(directory / "items.csv")
    item_index = {item_id: i for i, item_id in enumerate(items["item_id"])}
    interactions, user_ids = load_interactions(find_interactions_file(directory), item_index)
    return Dataset(name=directory.resolve().name, items=items, interactions=interactions, user_ids=user_ids)
