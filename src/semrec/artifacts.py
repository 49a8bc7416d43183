"""Self-describing artifact folders: what a trained model is, what it was trained on, and its state.

Layout: ``config.json`` (model name and settings, dataset, version, metrics), ``item_ids.json`` (the
item order every array follows), plus the model's own files (weights, item vectors, ...).
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

import semrec
from semrec.models.base import Recommender
from semrec.models.registry import create_model

FORMAT_VERSION = 1


def save_artifacts(
    model: Recommender,
    item_ids: list[str],
    directory: Path,
    dataset: dict[str, Any],
    metrics: dict[str, Any] | None = None,
    catalog: pd.DataFrame | None = None,
    provenance: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> None:
    """Writes the artifacts into a staging folder, then swaps it in, so a reader never sees half."""
    directory = Path(directory)
    staging = directory.with_name(f".{directory.name}.staging")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    settings = model.settings()
    config = {
        "format_version": FORMAT_VERSION,
        "semrec_version": semrec.__version__,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "model": settings.pop("model"),
        "settings": {k: str(v) for k, v in settings.items()},
        "dataset": dataset,
        # protocol, split settings, dataset fingerprint and code version (semrec.provenance)
        "provenance": provenance or {},
        "training": model.training_summary(),
        "metrics": metrics or {},
        **(extra or {}),  # e.g. "continual": how a retrained model came to be
    }
    (staging / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    (staging / "item_ids.json").write_text(json.dumps(item_ids))
    if catalog is not None:  # the server shows and filters by these fields
        catalog.to_json(staging / "catalog.jsonl", orient="records", lines=True, force_ascii=False)
    model.save_state(staging)
    if directory.exists():  # finished: the resumable checkpoint of the run goes with the old folder
        shutil.rmtree(directory)
    os.replace(staging, directory)


def read_config(directory: Path) -> dict[str, Any]:
    path = Path(directory) / "config.json"
    if not path.exists():
        raise ValueError(
            f"{directory} holds no semrec artifacts (no config.json); create them with `semrec train`"
        )
    config: dict[str, Any] = json.loads(path.read_text())
    if config.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{path}: artifact format {config.get('format_version')!r} is not supported; "
            f"expected {FORMAT_VERSION}"
        )
    return config


def load_artifacts(directory: Path) -> tuple[Recommender, list[str], dict[str, Any]]:
    """Returns (ready model, item ids in array order, config)."""
    directory = Path(directory)
    config = read_config(directory)
    settings = dict(config["settings"])
    if config["model"] == "lmrec" and "cold_neighbours" not in settings:
        # trained before items borrowed from their text neighbours: scored as they were trained
        settings["cold_neighbours"] = "0"
    model = create_model(config["model"], settings)
    model.load_state(directory)
    item_ids: list[str] = json.loads((directory / "item_ids.json").read_text())
    return model, item_ids, config


def load_catalog(directory: Path) -> pd.DataFrame:
    """The catalog rows the model was trained with (``catalog.jsonl``), or the dataset's items.csv."""
    directory = Path(directory)
    path = directory / "catalog.jsonl"
    if path.exists():
        return pd.read_json(path, orient="records", lines=True, dtype={"item_id": str})
    from semrec.data.loader import load_dataset

    dataset = read_config(directory).get("dataset", {}).get("path")
    if dataset and Path(dataset).exists():
        return load_dataset(Path(dataset)).items
    raise ValueError(f"{directory} has no catalog.jsonl and its dataset folder is gone; retrain to add one")
