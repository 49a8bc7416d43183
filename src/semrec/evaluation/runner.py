"""Offline jobs: load, split, fit (or load artifacts), rank, score, and write results and predictions."""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np

import semrec
from semrec.data.dataset import Dataset
from semrec.data.loader import load_dataset
from semrec.data.splits import Split, SplitName, cold_item_split, leave_one_out, time_split
from semrec.evaluation.evaluator import (
    NEW_ITEM_BLEND_MIN_CASES,
    EvaluationResult,
    blend_ndcg,
    evaluate,
    fit_cold_offset,
    new_item_blend_ndcg,
)
from semrec.evaluation.exposure_choice import ExposureChoice, exposure_blend_ndcg
from semrec.hardware import cpu_info
from semrec.models.base import PartScores, Recommender, TrainingData
from semrec.models.ranker import without_ranker
from semrec.models.registry import create_model
from semrec.provenance import code_version, dataset_fingerprint, mismatch, protocol_record

Protocol = Literal["loo", "time", "cold-items"]


@dataclass(frozen=True)
class RunSpec:
    data: Path
    model: str | None = None  # a model to fit, or
    artifacts: Path | None = None  # a trained model to load
    split: SplitName = "test"
    params: dict[str, str] | None = None
    protocol: Protocol = "loo"
    valid_start: str = "2011-11-01"
    test_start: str = "2011-11-15"
    batch_size: int = 1024
    cold_fraction: float = 0.1

    def split_record(self) -> dict[str, Any]:
        """The protocol and the settings of it that shape the split."""
        return protocol_record(self.protocol, self.cold_fraction, self.valid_start, self.test_start)

    def provenance(self) -> dict[str, Any]:
        """The protocol (with what shapes its split) and the dataset's fingerprint."""
        return {**self.split_record(), "dataset_fingerprint": dataset_fingerprint(self.data)}


@dataclass
class Prepared:
    dataset: Dataset
    split: Split
    data: TrainingData


def make_split(dataset: Dataset, spec: RunSpec) -> Split:
    if spec.protocol == "loo":
        return leave_one_out(dataset)
    if spec.protocol == "time":
        return time_split(dataset, spec.valid_start, spec.test_start)
    if spec.protocol == "cold-items":
        return cold_item_split(dataset, spec.cold_fraction)
    raise ValueError(f"unknown protocol {spec.protocol!r}; allowed: 'loo', 'time', 'cold-items'")


def prepare(spec: RunSpec, checkpoint: Path | None = None) -> Prepared:
    """Loads and splits the data; the training view carries a validation callback for early stopping."""
    dataset = load_dataset(spec.data)
    split = make_split(dataset, spec)
    counts = TrainingData(sequences=split.train, items=dataset.items).item_counts()

    def validate(model: Recommender) -> float:
        return evaluate(model, split.valid, counts, spec.batch_size, progress=False).metrics["ndcg@10"]

    def validate_blends(parts: PartScores, blends: Sequence[Mapping[str, float]]) -> list[float]:
        # the test's hidden items are never validation targets: no candidates either (as below)
        return blend_ndcg(split.valid, parts, blends, exclude=split.cold_items)

    def calibrate(
        parts: PartScores, blend: Mapping[str, float], cold: np.ndarray, rule: str
    ) -> tuple[float, int] | None:
        # the test's hidden items are never validation targets: left out of the candidates
        return fit_cold_offset(split.valid, parts, blend, cold, exclude=split.cold_items, rule=rule)

    def validate_new_item_blends(
        parts: PartScores, blends: Sequence[Mapping[str, float]], cold: np.ndarray
    ) -> tuple[list[float], int] | None:
        # the test's hidden new products are never validation targets: no candidates either
        return new_item_blend_ndcg(split.valid, parts, blends, cold, exclude=split.cold_items)

    def validate_exposure_blends(
        parts: PartScores, warm: Mapping[str, float], blends: Sequence[Mapping[str, float]], cold: np.ndarray
    ) -> ExposureChoice | None:
        # the test's hidden new products are never validation targets: no candidates either
        return exposure_blend_ndcg(
            split.valid,
            parts,
            warm,
            blends,
            cold,
            exclude=split.cold_items,
            min_targets=NEW_ITEM_BLEND_MIN_CASES,
        )

    def train_ranker(model: Recommender, n: int) -> tuple[Any, dict[str, Any]]:
        from semrec.models.sequential import SequentialRecommender
        from semrec.training.ranker_fit import fit_ranker

        if not isinstance(model, SequentialRecommender):
            raise ValueError(
                f"the ranking stage re-scores a sequential model (lmrec, sasrec), not {model.name}"
            )
        # the test's hidden new products are never validation targets: no candidates either
        rule = str(getattr(model.config, "cold_rule", "likelihood"))
        return fit_ranker(model, split.valid, n, never=split.cold_items, cold_rule=rule)

    data = TrainingData(
        sequences=split.train,
        items=dataset.items,
        validator=validate,
        blend_validator=validate_blends,
        cold_calibrator=calibrate,
        new_item_blend_validator=validate_new_item_blends,
        exposure_blend_validator=validate_exposure_blends,
        ranker_trainer=train_ranker,
        checkpoint=checkpoint,
    )
    return Prepared(dataset, split, data)


def dataset_summary(dataset: Dataset, path: Path) -> dict[str, Any]:
    return {
        "name": dataset.name,
        "path": str(Path(path).resolve()),
        "users": dataset.n_users,
        "items": dataset.n_items,
        "interactions": dataset.n_interactions,
    }


def results_document(
    spec: RunSpec,
    prepared: Prepared,
    model: Recommender,
    result: EvaluationResult,
    fit_seconds: float,
    started: float,
) -> dict[str, Any]:
    document: dict[str, Any] = {
        "semrec_version": semrec.__version__,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "dataset": dataset_summary(prepared.dataset, spec.data),
        "protocol": prepared.split.protocol,
        "split": spec.split,
        "provenance": {**spec.provenance(), "code": code_version()},
        "evaluated_users": len(result.users),
        "model": model.settings(),
        "training": model.training_summary(),
        "metrics": {k: round(v, 6) for k, v in result.metrics.items()},
        "segments": result.segments,
        "wall_time_seconds": {
            "fit": round(fit_seconds, 3),
            "evaluate": round(result.seconds, 3),
            "total": round(time.perf_counter() - started, 3),
        },
        "machine": {"python": platform.python_version(), "platform": platform.platform(), "cpu": cpu_info()},
    }
    if spec.artifacts is not None:
        from semrec.artifacts import read_config

        document["artifacts"] = str(Path(spec.artifacts).resolve())
        if (Path(spec.artifacts) / "config.json").exists():  # not yet while training writes them
            config = read_config(Path(spec.artifacts))
            document["artifacts_created"] = config.get("created")
            # the training log and the code that trained them live in the artifacts
            document["training"] = {**config.get("training", {}), **document["training"]}
            document["artifacts_provenance"] = config.get("provenance", {})
    if spec.protocol == "time":
        document["time_split"] = {"valid_start": spec.valid_start, "test_start": spec.test_start}
    if spec.protocol == "cold-items":
        document["cold_fraction"] = spec.cold_fraction  # the split's full record: "provenance"
    return document


def load_trained(spec: RunSpec, dataset: Dataset) -> Recommender:
    from semrec.artifacts import load_artifacts

    assert spec.artifacts is not None
    model, item_ids, config = load_artifacts(spec.artifacts)
    problem = mismatch(config.get("provenance", {}), spec.provenance())
    if problem is not None:
        raise ValueError(
            f"artifacts {spec.artifacts} cannot be scored under protocol {spec.protocol} on {spec.data}: "
            f"{problem}; train them with `semrec train --protocol {spec.protocol}` on this dataset"
        )
    if item_ids != [str(i) for i in dataset.item_ids]:
        raise ValueError(
            f"artifacts {spec.artifacts} were trained on another catalog ({len(item_ids)} items) than "
            f"{spec.data} ({dataset.n_items} items); train on this dataset first"
        )
    return model


def run_evaluation(spec: RunSpec) -> tuple[dict[str, Any], EvaluationResult, Dataset]:
    """Fits ``spec.model`` (or loads ``spec.artifacts``) and evaluates it by full ranking."""
    if (spec.model is None) == (spec.artifacts is None):
        raise ValueError("give either a model name to train or an artifacts folder to load, not both")
    started = time.perf_counter()
    model = create_model(spec.model, spec.params) if spec.model else None  # fails fast on bad settings
    prepared = prepare(spec)
    fit_started = time.perf_counter()
    if model is None:
        model = load_trained(spec, prepared.dataset)
    else:
        model.fit(prepared.data)
    fit_seconds = time.perf_counter() - fit_started if spec.model else 0.0
    cases = prepared.split.cases(spec.split)
    result = evaluate(model, cases, prepared.data.item_counts(), spec.batch_size)
    document = results_document(spec, prepared, model, result, fit_seconds, started)
    if getattr(model, "ranker", None) is not None:
        document["calibration"] = ranker_calibration(model, cases)
    return document, result, prepared.dataset


def ranker_calibration(model: Any, cases: Any) -> dict[str, Any]:
    """How well the ranking stage's p(next item | among the candidates) matches what the shoppers of
    ``cases`` did next, over every candidate of every shopper (log loss, ECE, reliability)."""
    from semrec.models.calibration import calibration
    from semrec.training.ranker_fit import training_pairs

    ranker = model.ranker
    # retrieval's candidates (and the fresh ones)
    x, y, _ = training_pairs(model, cases, ranker.n_candidates, every_case=True, fresh=ranker.fresh)
    return {"candidates": ranker.n_candidates, **calibration(ranker.probabilities(x[None])[0], y)}


def run_training(spec: RunSpec, out: Path) -> dict[str, Any]:
    """Trains ``spec.model`` with early stopping on validation and saves self-describing artifacts.

    The saved metrics are the validation split's; the test split is scored only by ``evaluate``.
    """
    assert spec.model is not None
    started = time.perf_counter()
    code_version()  # read once, now: the code this run trains with, whatever changes on disk meanwhile
    model = create_model(spec.model, spec.params)
    provenance = spec.provenance()
    out.mkdir(parents=True, exist_ok=True)
    guard_checkpoint(out, {"settings": model.settings(), "provenance": provenance})
    prepared = prepare(spec, checkpoint=out / "checkpoint.pt")
    model.fit(prepared.data)
    fit_seconds = time.perf_counter() - started
    valid_spec = RunSpec(**{**spec.__dict__, "split": "valid", "artifacts": out, "model": None})
    # the ranking stage learned from these shoppers: the saved validation figures are retrieval's
    # (the ranker's own held-out figure is in its training summary)
    with without_ranker(model):
        result = evaluate(model, prepared.split.valid, prepared.data.item_counts(), spec.batch_size)
    document = results_document(valid_spec, prepared, model, result, fit_seconds, started)
    save_trained(model, prepared, spec, out, document, provenance)
    return document


def save_trained(
    model: Recommender,
    prepared: Prepared,
    spec: RunSpec,
    out: Path,
    document: dict[str, Any],
    provenance: dict[str, Any],
    extra: dict[str, Any] | None = None,
) -> None:
    """Writes a model fitted under ``spec`` (its ``provenance``, read once by the caller) with its
    validation ``document``: `semrec train`, with or without --networks-from."""
    from semrec.artifacts import save_artifacts

    save_artifacts(
        model,
        [str(i) for i in prepared.dataset.item_ids],
        out,
        dataset_summary(prepared.dataset, spec.data),
        metrics={"split": "valid", **document["metrics"]},
        catalog=prepared.dataset.items,
        provenance={**provenance, "code": code_version()},
        extra=extra,
    )
    document["model"] = model.settings()


def guard_checkpoint(out: Path, key: dict[str, Any]) -> None:
    """A resumable run continues only with the settings and data it started with: ``key`` is kept
    beside the checkpoint, and a checkpoint of another key is refused rather than mixed in."""
    record = out / "checkpoint.json"
    checkpoints = sorted(out.glob("checkpoint*.pt"))
    if checkpoints:
        before = json.loads(record.read_text()) if record.exists() else None
        if before != json.loads(json.dumps(key)):
            changed = (
                "no record of the run they belong to"
                if before is None
                else "changed: "
                + ", ".join(
                    f"{part}.{name}"
                    for part in ("settings", "provenance")
                    for name in sorted(set(before.get(part, {})) | set(key[part]))
                    if before.get(part, {}).get(name) != json.loads(json.dumps(key[part])).get(name)
                )
            )
            raise ValueError(
                f"{out} holds a checkpoint of another training run ({changed}); resume with the same "
                f"settings and data, or delete {', '.join(c.name for c in checkpoints)} to start over"
            )
    record.write_text(json.dumps(key, indent=2) + "\n")


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


def load_sequential(data: Path, artifacts: Path, protocol: Protocol = "loo") -> tuple[Prepared, Any]:
    """(prepared split, loaded model) for a benchmark over trained sasrec or lmrec artifacts."""
    from semrec.models.sequential import SequentialRecommender

    spec = RunSpec(data=data, artifacts=artifacts, protocol=protocol)
    prepared = prepare(spec)
    model = load_trained(spec, prepared.dataset)
    if not isinstance(model, SequentialRecommender):
        raise ValueError(f"{artifacts}: this benchmark reads a sequential model (lmrec, sasrec)")
    return prepared, model


def publish_test_results(
    data: Path, artifacts: Path, prepared: Prepared, fields: dict[str, Any], out: Path | None
) -> dict[str, Any]:
    """A benchmark's test-split figures with what they were measured on, written to ``out`` (or
    printed)."""
    document = {
        "dataset": str(Path(data).resolve()),
        "protocol": prepared.split.protocol,
        "split": "test",
        "artifacts": str(Path(artifacts).resolve()),
        **fields,
        "machine": {"cpu": cpu_info(), "platform": platform.platform()},
    }
    if out is not None:
        write_results(document, out)
    else:
        print(json.dumps(document, indent=2))
    return document
