"""Importing a shop's own export (CSV, JSON Lines, Parquet) into the dataset format, by column mapping."""

from __future__ import annotations

import csv
import gzip
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from semrec.data.dataset import Dataset
from semrec.data.errors import DatasetError
from semrec.data.loader import load_dataset, parse_timestamp

READERS = {".csv": "csv", ".gz": "csv", ".jsonl": "jsonl", ".json": "jsonl", ".parquet": "parquet"}


@dataclass(frozen=True)
class ColumnMapping:
    """Names of the source columns that hold each field of the dataset format."""

    user: str = "user_id"
    item: str = "item_id"
    time: str | None = "timestamp"
    title: str = "title"
    item_id_in_catalog: str | None = None  # the catalog's id column, when it differs from ``item``


def read_table(path: Path) -> pd.DataFrame:
    """Reads a CSV (optionally gzipped), JSON Lines or Parquet file as text columns."""
    kind = READERS.get(path.suffix.lower())
    if kind is None:
        raise DatasetError(path, None, f"unknown file type {path.suffix!r}; allowed: {sorted(READERS)}")
    if not path.exists():
        raise DatasetError(path, None, "file not found")
    try:
        if kind == "csv":
            frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        elif kind == "jsonl":
            frame = pd.read_json(path, lines=True, dtype=False)
        else:
            frame = pd.read_parquet(path)
    except (ValueError, OSError, pd.errors.ParserError) as error:
        raise DatasetError(path, None, f"cannot read as {kind}: {error}") from None
    return frame


def _require(frame: pd.DataFrame, path: Path, columns: dict[str, str | None]) -> None:
    for role, column in columns.items():
        if column is not None and column not in frame.columns:
            raise DatasetError(
                path,
                None,
                f"no column {column!r} for {role}; columns found: {list(frame.columns)} "
                f"(choose one with --{role}-col)",
            )


def _text(values: pd.Series) -> pd.Series:
    return values.map(lambda v: "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v).strip())


def import_dataset(
    interactions_path: Path,
    out_dir: Path,
    mapping: ColumnMapping,
    items_path: Path | None = None,
) -> Dataset:
    """Converts a shop export into ``out_dir`` (items.csv + interactions.csv.gz) and loads it back.

    Events are ordered per user by time (ties keep file order). Items that events name but the
    catalog lacks are an error; with no catalog, the items are taken from the events with empty titles.
    Nothing is written unless the whole input is valid.
    """
    events = read_table(interactions_path)
    _require(events, interactions_path, {"user": mapping.user, "item": mapping.item, "time": mapping.time})
    users, item_ids = _text(events[mapping.user]), _text(events[mapping.item])
    for column, values in (("user", users), ("item", item_ids)):
        empty = np.flatnonzero((values == "").to_numpy())
        if len(empty):
            raise DatasetError(interactions_path, int(empty[0]) + 2, f"empty {column} id in {column} column")
    if mapping.time is not None:
        raw_times = _text(events[mapping.time])
        times = np.empty(len(events))
        for row, value in enumerate(raw_times):
            try:
                times[row] = parse_timestamp(value)
            except ValueError as error:
                raise DatasetError(interactions_path, row + 2, str(error)) from None
    else:
        times = np.full(len(events), np.nan)

    if items_path is not None:
        catalog = read_table(items_path)
        id_col = mapping.item_id_in_catalog or mapping.item
        _require(catalog, items_path, {"item": id_col})
        catalog = catalog.rename(columns={id_col: "item_id", mapping.title: "title"})
        catalog["item_id"] = _text(catalog["item_id"])
        if "title" not in catalog.columns:
            catalog["title"] = ""
        known = set(catalog["item_id"])
        unknown = np.flatnonzero(~item_ids.isin(known).to_numpy())
        if len(unknown):
            row = int(unknown[0])
            raise DatasetError(
                interactions_path, row + 2, f"item {item_ids.iloc[row]!r} is not in the catalog {items_path}"
            )
    else:
        catalog = pd.DataFrame({"item_id": pd.unique(item_ids), "title": ""})

    extra = [c for c in events.columns if c not in {mapping.user, mapping.item, mapping.time}]
    out = pd.DataFrame({"user_id": users, "item_id": item_ids})
    out["timestamp"] = ["" if np.isnan(t) else f"{t:.0f}" if float(t).is_integer() else str(t) for t in times]
    for column in extra:
        out[column] = events[column].to_numpy()
    first_seen = pd.Series(np.arange(len(out))).groupby(users.to_numpy()).transform("min").to_numpy()
    order = np.lexsort((np.arange(len(out)), np.nan_to_num(times, nan=-np.inf), first_seen))
    out = out.iloc[order]

    # written beside the target and validated there, then moved in: a failure leaves nothing behind
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir.parent, prefix=f".{out_dir.name}-") as staging:
        stage = Path(staging)
        catalog_columns = ["item_id", "title"] + [c for c in catalog.columns if c not in ("item_id", "title")]
        catalog[catalog_columns].to_csv(stage / "items.csv", index=False, quoting=csv.QUOTE_MINIMAL)
        with gzip.open(stage / "interactions.csv.gz", "wt", encoding="utf-8", newline="") as handle:
            out.to_csv(handle, index=False)
        load_dataset(stage)
        out_dir.mkdir(exist_ok=True)
        for name in ("items.csv", "interactions.csv.gz"):
            os.replace(stage / name, out_dir / name)
    return load_dataset(out_dir)
