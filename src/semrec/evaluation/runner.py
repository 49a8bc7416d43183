"""One evaluation run: load, split, fit, rank, score, and write results and predictions."""

from __future__ import annotations

import json
import platform
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import semrec
from semrec.data.dataset import Dataset
from semrec.data.loader import load_dataset
from semrec.data.splits import Split, SplitName, leave_one_out, time_split
from semrec.evaluation.evaluator import EvaluationResult, evaluate
from semrec.models.base import Recommender, TrainingData
from semrec.models.registry import create_model

Protocol = Literal["loo", "time"]


@dataclass(frozen=True)
class RunSpec:
    data: Path
    model: str
    split: SplitName = "test"
    params: dict[str, str] | None = None
    protocol: Protocol = "loo"
    valid_start: str = "2011-11-01"
    test_start: str = "2011-11-15"
    batch_size: int = 1024


def make_split(dataset: Dataset, spec: RunSpec) -> Split:
    if spec.protocol == "loo":
        return leave_one_out(dataset)
    if spec.protocol == "time":
        return time_split(dataset, spec.valid_start, spec.test_start)
    raise ValueError(f"unknown protocol {spec.protocol!r}; allowed: 'loo', 'time'")


def run_evaluation(spec: RunSpec) -> tuple[dict[str, Any], EvaluationResult, Dataset]:
    """Runs the whole evaluation and returns (results document, raw result, dataset)."""
    started = time.perf_counter()
    model: Recommender = create_model(spec.model, spec.params)  # fails fast on bad settings
    dataset = load_dataset(spec.data)
    split = make_split(dataset, spec)
    data = TrainingData(sequences=split.train, items=dataset.items)
    fit_started = time.perf_counter()
    model.fit(data)
    fit_seconds = time.perf_counter() - fit_started
    result = evaluate(model, split.cases(spec.split), data.item_counts(), spec.batch_size)
    document = {
        "semrec_version": semrec.__version__,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "dataset": {
            "name": dataset.name,
            "path": str(Path(spec.data).resolve()),
            "users": dataset.n_users,
            "items": dataset.n_items,
            "interactions": dataset.n_interactions,
        },
        "protocol": split.protocol,
        "split": spec.split,
        "evaluated_users": len(result.users),
        "model": model.settings(),
        "metrics": {k: round(v, 6) for k, v in result.metrics.items()},
        "segments": result.segments,
        "wall_time_seconds": {
            "fit": round(fit_seconds, 3),
            "evaluate": round(result.seconds, 3),
            "total": round(time.perf_counter() - started, 3),
        },
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
    }
    if spec.protocol == "time":
        document["time_split"] = {"valid_start": spec.valid_start, "test_start": spec.test_start}
    return document, result, dataset


def write_results(document: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n")


def write_predictions(result: EvaluationResult, dataset: Dataset, path: Path) -> None:
    """One JSON line per evaluated shopper: {"user_id": ..., "items": [best first]}."""
    item_ids = dataset.item_ids
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        for user, ranked in zip(result.users, result.ranked, strict=True):
            line = {
                "user_id": str(dataset.user_ids[user]),
                "items": [str(i) for i in item_ids[ranked[ranked >= 0]]],
            }
            handle.write(json.dumps(line) + "\n")
