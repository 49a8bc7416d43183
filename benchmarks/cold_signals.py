"""What else could tell which new product a shopper picks: measured on the cold-items protocol's
new-product shoppers (the test's 2,320 and validation's 1,099 on amazon-beauty), with no trained
artifacts needed.

1. **The text encoder.** Text-zeroshot's ranking with each encoder of ``--encoders`` (``minilm``, or
   the folder of any local Hugging Face sentence-embedding model): among new products only (how well
   the text tells new products apart) and over the whole catalog.
2. **Events since training.** Item-kNN fitted on the training sequences (where a new product has no
   event) against item-kNN fitted on every shopper's scoring-time history (targets excluded: for the
   test, s_1..s_(n-1); for validation, s_1..s_(n-2)). The protocol keeps those histories whole, so a
   "new" product there holds the events it gathered after the split. This is **not** zero-event
   cold start. It measures what a co-occurrence refreshed from events since training would add.

usage: python benchmarks/cold_signals.py [--data ../shared/datasets/amazon-beauty]
       [--encoders minilm,/path/to/model] [--out results.json]

A diagnostic: nothing is chosen here.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from pathlib import Path
from typing import Any

import numpy as np

from cold_tradeoff import summary
from semrec.data.loader import load_dataset
from semrec.data.splits import EvalCases, cold_item_split
from semrec.evaluation.runner import write_results
from semrec.hardware import cpu_info
from semrec.models.base import Recommender, TrainingData
from semrec.models.itemknn import ItemKNNRecommender
from semrec.models.text_zeroshot import TextZeroShotRecommender

ROOT = Path(__file__).resolve().parents[1]


def target_ranks(model: Recommender, cases: EvalCases, candidates: np.ndarray) -> np.ndarray:
    """The 1-based rank of each case's target among ``candidates`` (a mask over items), history out;
    candidates tied with the target count half (item-kNN gives many items the same score, 0)."""
    out = []
    for start in range(0, len(cases.users), 1024):
        histories = cases.histories[start : start + 1024]
        targets = np.array([t[0] for t in cases.targets[start : start + 1024]])
        scores = model.score(histories).astype(np.float64)
        for row, history in enumerate(histories):
            scores[row, history] = -np.inf
        scores[:, ~candidates] = -np.inf
        value = scores[np.arange(len(targets)), targets]
        above = (scores > value[:, None]).sum(axis=1)
        tied = (scores == value[:, None]).sum(axis=1) - 1
        out.append(above + 1 + tied / 2)
    return np.concatenate(out)


def figures(rank: np.ndarray) -> dict[str, float]:
    out = summary(rank, np.zeros(len(rank)))
    out.pop("new_share@10")
    return out


def main() -> None:
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=raw)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "datasets" / "amazon-beauty")
    parser.add_argument("--encoders", default="minilm", help="comma-separated: minilm or model folders")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    dataset = load_dataset(args.data)
    split = cold_item_split(dataset)
    assert split.cold_items is not None and split.valid_cold_items is not None
    n = dataset.n_items
    counts = np.bincount(np.concatenate(split.train), minlength=n)
    new = counts == 0
    test_hidden = np.isin(np.arange(n), split.cold_items)
    rows = np.flatnonzero(new[[t[0] for t in split.valid.targets]])
    valid_new = EvalCases(
        split.valid.users[rows],
        [split.valid.histories[r] for r in rows],
        [split.valid.targets[r] for r in rows],
    )
    # (cases, candidates among new products only, whole-catalog candidates); the test's hidden
    # products are never validation's targets, so they leave its candidates
    groups = {
        "test": (split.test, new, np.ones(n, dtype=bool)),
        "validation": (valid_new, new & ~test_hidden, ~test_hidden),
    }
    results: dict[str, Any] = {"encoders": {}, "events_since_training": {}, "item_knn": {}}
    training = TrainingData(sequences=split.train, items=dataset.items)
    for encoder in [e for e in args.encoders.split(",") if e]:
        model = TextZeroShotRecommender(TextZeroShotRecommender.Config(encoder=encoder)).fit(training)
        row = {}
        for name, (cases, among, whole) in groups.items():
            row[f"{name}, among new products only"] = figures(target_ranks(model, cases, among))
            row[f"{name}, whole catalog"] = figures(target_ranks(model, cases, whole))
        results["encoders"][encoder] = row
        print("text-zeroshot", encoder, json.dumps(row), flush=True)
    sequences = dataset.sequences
    fits_history = {"test": [s[:-1] for s in sequences], "validation": [s[:-2] for s in sequences]}
    fits = {
        "training sequences (zero-event cold start)": {"test": split.train, "validation": split.train},
        "every shopper's scoring-time history (events since training; not cold start)": fits_history,
    }
    # how many events the new-product targets hold in those histories
    for name, (cases, _, _) in groups.items():
        held = np.bincount(np.concatenate(fits_history[name]), minlength=n)[[t[0] for t in cases.targets]]
        results["events_since_training"][name] = {
            "targets_with_events": round(float((held > 0).mean()), 4),
            "median_events": float(np.median(held)),
        }
    print("events since training", json.dumps(results["events_since_training"]), flush=True)
    for label, data in fits.items():
        row = {}
        for name, (cases, _, whole) in groups.items():
            knn = ItemKNNRecommender().fit(TrainingData(sequences=data[name], items=dataset.items))
            row[f"{name}, whole catalog"] = figures(target_ranks(knn, cases, whole))
        results["item_knn"][label] = row
        print("itemknn on", label, json.dumps(row), flush=True)
    if args.out is not None:
        document = {
            "dataset": str(args.data.resolve()),
            "protocol": "cold-items",
            "split": "test and validation new-product shoppers (nothing chosen)",
            "cases": {"test": len(split.test.users), "validation": len(valid_new.users)},
            "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "cpu": cpu_info()},
            "results": results,
        }
        write_results(document, args.out)


if __name__ == "__main__":
    main()
