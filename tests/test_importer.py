from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from semrec.cli import app
from semrec.data import DatasetError
from semrec.data.importer import ColumnMapping, import_dataset

EVENTS = pd.DataFrame(
    {
        "customer": ["c1", "c2", "c1", "c1"],
        "sku": ["s2", "s1", "s1", "s3"],
        "when": ["2024-01-03", "2024-01-01", "2024-01-01", "2024-01-03"],
        "action": ["cart", "view", "view", "purchase"],
    }
)
CATALOG = pd.DataFrame(
    {"sku": ["s1", "s2", "s3"], "name": ["Soap", "Shampoo", "Brush"], "brand": ["A", "B", "C"]}
)
MAPPING = ColumnMapping(user="customer", item="sku", time="when", title="name")


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_import_each_format_with_a_column_mapping(tmp_path: Path, fmt: str) -> None:
    events, items = tmp_path / f"events.{fmt}", tmp_path / f"items.{fmt}"
    for frame, path in ((EVENTS, events), (CATALOG, items)):
        if fmt == "csv":
            frame.to_csv(path, index=False)
        elif fmt == "jsonl":
            path.write_text("".join(json.dumps(r) + "\n" for r in frame.to_dict("records")))
        else:
            frame.to_parquet(path)
    dataset = import_dataset(events, tmp_path / "out", MAPPING, items)
    # per shopper, by time; equal times keep file order
    assert [dataset.item_ids[i] for i in dataset.sequences[0]] == ["s1", "s2", "s3"]
    assert list(dataset.user_ids) == ["c1", "c2"]
    assert list(dataset.items.columns) == ["item_id", "title", "brand"]
    assert dataset.items.set_index("item_id").loc["s2", "title"] == "Shampoo"
    assert "action" in dataset.interactions.columns


def test_import_without_catalog_and_unknown_items(tmp_path: Path) -> None:
    EVENTS.to_csv(tmp_path / "e.csv", index=False)
    dataset = import_dataset(tmp_path / "e.csv", tmp_path / "out", MAPPING)
    assert dataset.n_items == 3
    CATALOG.iloc[:2].to_csv(tmp_path / "i.csv", index=False)
    with pytest.raises(DatasetError, match=r"e.csv:5: item 's3' is not in the catalog"):
        import_dataset(tmp_path / "e.csv", tmp_path / "out2", MAPPING, tmp_path / "i.csv")
    assert not (tmp_path / "out2" / "items.csv").exists()


def test_import_bad_input_names_what_is_wrong(tmp_path: Path) -> None:
    EVENTS.assign(when=["2024-01-01", "soon", "", ""]).to_csv(tmp_path / "e.csv", index=False)
    with pytest.raises(DatasetError, match=r"e.csv:3: timestamp 'soon'"):
        import_dataset(tmp_path / "e.csv", tmp_path / "out", MAPPING)
    with pytest.raises(DatasetError, match=r"no column 'user_id' for user.*--user-col"):
        import_dataset(tmp_path / "e.csv", tmp_path / "out", ColumnMapping())
    with pytest.raises(DatasetError, match="unknown file type"):
        import_dataset(tmp_path / "e.xlsx", tmp_path / "out", MAPPING)
    assert not (tmp_path / "out").exists()


def test_import_command(tmp_path: Path) -> None:
    EVENTS.to_csv(tmp_path / "e.csv", index=False)
    CATALOG.to_csv(tmp_path / "i.csv", index=False)
    args = ["import", "--interactions", str(tmp_path / "e.csv"), "--items", str(tmp_path / "i.csv")]
    args += ["--out", str(tmp_path / "shop"), "--user-col", "customer", "--item-col", "sku"]
    args += ["--time-col", "when", "--title-col", "name"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "imported 4 events of 2 shoppers on 3 items" in result.output
    evaluated = CliRunner().invoke(app, ["info", "--data", str(tmp_path / "shop")])
    assert evaluated.exit_code == 0
