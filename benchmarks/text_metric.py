"""Does a learned text metric help lmrec? Trained lmrec artifacts scored twice, side by side: with the
text-affinity term as trained (the cosine of the shopper's text profile to each item's text) and with
the learned metric of :mod:`semrec.models.text_metric` (fitted on the training sequences only). For
each, the blend weights and the cold offset are chosen on validation and the ranking stage is fitted
on validation, exactly as `semrec train` does after the networks; then both are scored on the test.

usage: python benchmarks/text_metric.py --artifacts A [--protocol cold-items|loo]
       [--data ../shared/datasets/amazon-beauty] [--epochs 2] [--out results.json]

The networks are the trained ones in both rows: this measures the blend stage and what follows it.
cold-items also reports, in retrieval order, validation's and the test's new-product targets.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from cold_tradeoff import at_offset, document_head
from semrec.artifacts import load_artifacts
from semrec.evaluation.evaluator import evaluate
from semrec.evaluation.runner import RunSpec, load_trained, prepare, write_results
from semrec.models.sequential import SequentialRecommender
from semrec.models.text_metric import MetricSettings
from semrec.training.fitting import fit_blend, fit_ranking_stage

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=raw)
    parser.add_argument("--artifacts", type=Path, required=True)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "datasets" / "amazon-beauty")
    parser.add_argument("--protocol", default="cold-items", choices=["cold-items", "loo"])
    parser.add_argument("--epochs", type=int, default=MetricSettings.epochs, help="text_metric_epochs")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    spec = RunSpec(data=args.data, artifacts=args.artifacts, protocol=args.protocol)
    prepared = prepare(spec)
    model = load_trained(spec, prepared.dataset)  # refuses artifacts of another protocol or dataset
    if not isinstance(model, SequentialRecommender) or model.affinity is None:
        raise SystemExit("--artifacts must hold an lmrec model with the text-affinity term")
    _, _, config = load_artifacts(args.artifacts)
    split, data = prepared.split, prepared.data
    counts = data.item_counts()
    new_targets = None
    if split.valid_cold_items is not None:
        new_targets = np.isin([t[0] for t in split.valid.targets], split.valid_cold_items)
    rows: list[dict[str, Any]] = []
    for epochs in (0, args.epochs):
        # as `semrec train --param text_metric_epochs=E` fits it: before the blend weights
        model.config = dataclasses.replace(model.config, text_metric_epochs=epochs)
        started = time.perf_counter()
        fit_blend(model, data)  # the metric, then weights and cold offset chosen on validation
        row: dict[str, Any] = {
            "text_term": "learned metric" if epochs else "cosine (as trained)",
            "text_metric_epochs": epochs,
            "blend_seconds": round(time.perf_counter() - started, 1),
            "cooccurrence_weight": model.prior_weight,
            "text_weight": model.text_weight,
            "cold_offset": round(model.cold_offset, 4),
            "valid_blend_ndcg@10": max((model.blend_validation or {"": 0.0}).values()),
        }
        if new_targets is not None:
            row["retrieval"] = at_offset(model, split, model.cold_offset, new_targets)
        fit_ranking_stage(model, data)
        row["ranker_validation"] = model.ranker_info
        result = evaluate(model, split.test, counts, progress=False)
        row["test"] = {k: round(result.metrics[k], 4) for k in ("hr@10", "ndcg@10", "hr@20", "ndcg@20")}
        rows.append(row)
        print(json.dumps(row, default=str), flush=True)
    if args.out is not None:
        document = {
            **document_head(args.data, args.artifacts, config, args.protocol),
            "split": "test (choices on validation)",
            "metric": dataclasses.asdict(MetricSettings(epochs=args.epochs)),
            "test_cases": len(split.test.users),
            "rows": rows,
        }
        write_results(document, args.out)


if __name__ == "__main__":
    main()
