"""A replay on real time order: train before a date, then replay the following days through the store.

    python benchmarks/replay.py --data ../shared/datasets/amazon-beauty --start 2014-06-23 \
        --days 7 --epochs 2 --out benchmarks/results/amazon-beauty-replay-lmrec.json

Before ``--start``, the dataset's events train the static model and are loaded into a fresh store.
Then, day by day, each day's events (in the file's order) are first scored, as next items after
everything each shopper did before, by

- (a) the static model, never retrained;
- (b) the continual one: every evening ``semrec retrain``'s path (a warm start on the store's new
  events plus a replay sample, behind the promotion gate) from the live model, the static one first;
- (c) a full retrain: every evening a new model from scratch on every event so far;

then stored. The static model and each full retrain are fitted alike, on every event before their
day (nothing held out: a full retrain keeps the newest events too) for a fixed number of epochs
(``--epochs``; not a time budget, so that a busy CPU cannot change what they learn), with the same
settings (``PARAMS``). Having no validation shoppers, the gate judges the continual candidates on
the newest held-out events alone. Each model ranks the whole catalog with the shopper's history
masked (an event whose product is already in the history cannot count and is left out).

Compute is each arm's CPU time in this process (all its threads), with wall-clock time beside it:
a full retrain's fitting; a continual step's whole ``retrain`` call (reading the store, training,
the gate's scoring). Machine: see the results file.
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from semrec.artifacts import load_artifacts, save_artifacts
from semrec.data.loader import load_dataset
from semrec.data.splits import EvalCases
from semrec.evaluation.evaluator import evaluate
from semrec.evaluation.metrics import hit_matrix, per_user_metrics
from semrec.evaluation.runner import dataset_summary
from semrec.models.base import TrainingData
from semrec.models.registry import create_model
from semrec.provenance import code_version, dataset_fingerprint
from semrec.schema import Event, Item
from semrec.store import open_store
from semrec.training.continual import RetrainSettings
from semrec.training.retrain import retrain
from serving import machine, write_result

# one setting for every arm: lmrec's defaults but a fixed number of epochs (below) and fixed blend
# weights (the values validation chose for the default model on amazon-beauty), no ranking stage
PARAMS = {"ranker": "0", "cooccurrence_weight": "0.3", "text_weight": "3.0", "time_budget_minutes": "600"}


def write_part(source: Path, interactions: pd.DataFrame, folder: Path) -> Path:
    """A dataset folder with the whole catalog and these interactions (file order kept)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "items.csv").write_bytes((source / "items.csv").read_bytes())
    with gzip.open(folder / "interactions.csv.gz", "wt", encoding="utf-8") as handle:
        interactions[["user_id", "item_id", "timestamp"]].to_csv(handle, index=False)
    return folder


def day_cases(
    day: pd.DataFrame, before: dict[str, list[int]], index_of: dict[str, int]
) -> tuple[EvalCases, dict[str, list[int]]]:
    """The day's events as cases (history so far, next item), and the histories after the day."""
    histories, targets, users = [], [], []
    after = {user: list(items) for user, items in before.items()}
    for number, (user, item) in enumerate(zip(day["user_id"], day["item_id"], strict=True)):
        row = index_of[str(item)]
        seen = after.setdefault(str(user), [])
        if seen and row not in seen:
            histories.append(np.array(seen, dtype=np.int64))
            targets.append(np.array([row], dtype=np.int64))
            users.append(number)
        seen.append(row)
    return EvalCases(np.array(users, dtype=np.int64), histories, targets), after


def score(folder: Path, cases: EvalCases) -> dict[str, Any]:
    """NDCG@10 and HR@10 on the day's cases, with each case's NDCG@10 (for paired intervals)."""
    model: Any = load_artifacts(folder)[0]
    result = evaluate(model, cases, model.counts, progress=False)
    per_case = per_user_metrics(
        hit_matrix(result.ranked, cases.targets), np.array([len(t) for t in cases.targets])
    )["ndcg@10"]
    return {
        **{k: round(result.metrics[k], 6) for k in ("ndcg@10", "hr@10")},
        "per_case_ndcg@10": [round(float(v), 5) for v in per_case],
    }


def paired_interval(gain: np.ndarray, seed: int = 0, resamples: int = 10_000) -> list[float]:
    """95% bootstrap interval of a mean paired difference (cases resampled with replacement)."""
    rng = np.random.default_rng(seed)
    means = gain[rng.integers(0, len(gain), size=(resamples, len(gain)))].mean(axis=1)
    return [round(float(v), 6) for v in np.percentile(means, [2.5, 97.5])]


def summarise(days: list[dict[str, Any]]) -> dict[str, Any]:
    """Pooled NDCG@10 per arm, the share of the full retrain's gain continual training recovers, the
    compute share, and 95% paired bootstrap intervals of each gain over the static model."""
    total = sum(r["cases"] for r in days)
    arms = ("static", "continual", "full")
    cases = {arm: np.concatenate([np.array(r[arm]["per_case_ndcg@10"]) for r in days]) for arm in arms}
    pooled = {arm: float(cases[arm].mean()) if total else 0.0 for arm in arms}
    gain_full = pooled["full"] - pooled["static"]
    gain_continual = pooled["continual"] - pooled["static"]
    return {
        "cases": total,
        "ndcg@10": {arm: round(pooled[arm], 6) for arm in arms},
        "gain_recovered": round(gain_continual / gain_full, 4) if gain_full else None,
        "gain_interval_95": {
            "continual - static": paired_interval(cases["continual"] - cases["static"]),
            "full - static": paired_interval(cases["full"] - cases["static"]),
            "continual - full": paired_interval(cases["continual"] - cases["full"]),
        },
        "compute_share_cpu": round(
            sum(r["continual_cpu_seconds"] for r in days) / sum(r["full_cpu_seconds"] for r in days), 4
        ),
        "compute_share_wall": round(
            sum(r["continual_seconds"] for r in days) / sum(r["full_seconds"] for r in days), 4
        ),
        "candidates_refused": sum(not r["gate"]["promoted"] for r in days),
    }


def rescore(previous: Path, work: Path, data: Path, out: Path | None) -> None:
    """Scores again, per case, the models a finished run left in ``work``; training, compute and
    gate figures are the run's own (``previous``)."""
    result = json.loads(previous.read_text())
    dataset = load_dataset(data)
    frame = dataset.interactions[["user_id", "item_id", "timestamp"]]
    start = pd.Timestamp(result["start"], tz="UTC").timestamp()
    day_of = np.floor((frame["timestamp"].fillna(0).to_numpy() - start) / 86400).astype(int)
    index_of = {str(i): n for n, i in enumerate(dataset.item_ids)}
    before: dict[str, list[int]] = {}
    for user, item in zip(frame[day_of < 0]["user_id"], frame[day_of < 0]["item_id"], strict=True):
        before.setdefault(str(user), []).append(index_of[str(item)])
    live = work / "full-0"
    for d, row in enumerate(result["days"]):
        cases, before = day_cases(frame[day_of == d], before, index_of)
        if len(cases.users) != row["cases"]:
            raise SystemExit(f"day {row['day']}: {len(cases.users)} cases, the run had {row['cases']}")
        for arm, folder in (("static", work / "full-0"), ("continual", live), ("full", work / f"full-{d}")):
            row[arm] = score(folder, cases)
        if row["gate"]["promoted"]:
            live = work / f"continual-{d + 1}"
        print(row["day"], {arm: row[arm]["ndcg@10"] for arm in ("static", "continual", "full")}, flush=True)
    result["summary"] = summarise(result["days"])
    write_result(result, out)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=Path("../shared/datasets/amazon-beauty"))
    parser.add_argument("--start", default="2014-06-23")
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument(
        "--epochs", type=int, default=2, help="Epochs of the static model and of each full retrain."
    )
    parser.add_argument("--out", type=Path)
    parser.add_argument(
        "--work", type=Path, help="Folder for artifacts and the store (default: a temporary one)."
    )
    parser.add_argument(
        "--rescore",
        type=Path,
        metavar="RESULTS",
        help="Score again, per case, the models a finished run (its results file) left in --work.",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.rescore:
        if not args.work:
            parser.error("--rescore needs the finished run's --work folder")
        rescore(args.rescore, args.work, args.data, args.out)
        return

    dataset = load_dataset(args.data)
    frame = dataset.interactions[["user_id", "item_id", "timestamp"]].copy()
    start = pd.Timestamp(args.start, tz="UTC").timestamp()
    day_of = np.floor((frame["timestamp"].fillna(0).to_numpy() - start) / 86400).astype(int)
    index_of = {str(i): n for n, i in enumerate(dataset.item_ids)}
    work = args.work or Path(tempfile.mkdtemp(prefix="semrec-replay-"))

    def full_train(through_day: int) -> tuple[Path, dict[str, float]]:
        """A model from scratch on every event before the day (file order per shopper)."""
        part = write_part(args.data, frame[day_of < through_day], work / f"data-{through_day}")
        out = work / f"full-{through_day}"
        clock = (time.perf_counter(), time.process_time())
        data = load_dataset(part)
        model = create_model("lmrec", {**PARAMS, "epochs": str(args.epochs)})
        model.fit(TrainingData(list(data.sequences), data.items))
        cost = {"wall": time.perf_counter() - clock[0], "cpu": time.process_time() - clock[1]}
        provenance = {
            "protocol": "all",
            "dataset_fingerprint": dataset_fingerprint(part),
            "code": code_version(),
        }
        save_artifacts(
            model, [str(i) for i in data.item_ids], out, dataset_summary(data, part), provenance=provenance
        )
        return out, cost

    static, static_cost = full_train(0)
    store = open_store(work / "store.db")
    store.seed_items(
        Item(str(i), str(t)) for i, t in zip(dataset.items["item_id"], dataset.items["title"], strict=True)
    )
    history = frame[day_of < 0]
    store.add_events(
        [
            Event(str(u), str(i), "purchase", float(t) if t == t else 0.0)
            for u, i, t in history.itertuples(index=False)
        ]
    )
    seeded = store.last_event()
    before: dict[str, list[int]] = {}
    for user, item in zip(history["user_id"], history["item_id"], strict=True):
        before.setdefault(str(user), []).append(index_of[str(item)])

    full, live = static, static
    since: int | None = seeded
    days: list[dict[str, Any]] = []
    for d in range(args.days):
        events = frame[day_of == d]
        cases, before = day_cases(events, before, index_of)
        row: dict[str, Any] = {
            "day": str(pd.Timestamp(start + d * 86400, unit="s").date()),
            "events": len(events),
        }
        row["cases"] = len(cases.users)
        row["static"], row["continual"], row["full"] = (
            score(static, cases),
            score(live, cases),
            score(full, cases),
        )
        store.add_events(
            [Event(str(u), str(i), "purchase", float(t)) for u, i, t in events.itertuples(index=False)]
        )
        # the evening: the continual candidate behind the gate, and a full retrain
        candidate = work / f"continual-{d + 1}"
        clock = (time.perf_counter(), time.process_time())
        verdict = retrain(live, store, candidate, RetrainSettings(), since_event=since)
        row["continual_seconds"] = round(time.perf_counter() - clock[0], 1)
        row["continual_cpu_seconds"] = round(time.process_time() - clock[1], 1)
        row["gate"] = verdict.as_json()
        if verdict.promoted:  # a refused candidate leaves the live model (and its lineage) as it was
            live, since = candidate, None
        full, cost = full_train(d + 1)
        row["full_seconds"], row["full_cpu_seconds"] = round(cost["wall"], 1), round(cost["cpu"], 1)
        days.append(row)
        print({k: v for k, v in row.items() if k not in ("static", "continual", "full")}, flush=True)

    result = {
        "benchmark": "replay",
        "dataset": str(args.data.resolve().name),
        "protocol": "replay on time order: train before --start, then score each next day's events",
        "split": f"{args.days} days from {args.start}",
        "start": args.start,
        "model": "lmrec",
        "params": PARAMS,
        "retrain_settings": RetrainSettings().__dict__,
        "machine": machine(),
        "epochs": args.epochs,
        "static_train_seconds": round(static_cost["wall"], 1),
        "static_train_cpu_seconds": round(static_cost["cpu"], 1),
        "days": days,
        "summary": summarise(days),
    }
    write_result(result, args.out)


if __name__ == "__main__":
    main()
