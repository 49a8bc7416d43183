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
from pathlib import Path
from typing import Any

from blend_stage import load, refit_and_score
from cold_tradeoff import document_head
from semrec.evaluation.runner import write_results
from semrec.models.text_metric import MetricSettings

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
    loaded = load(args.data, args.artifacts, args.protocol)
    rows: list[dict[str, Any]] = []
    for epochs in (0, args.epochs):
        # as `semrec train --param text_metric_epochs=E` fits it: before the blend weights
        loaded.model.config = dataclasses.replace(loaded.model.config, text_metric_epochs=epochs)
        row = {
            "text_term": "learned metric" if epochs else "cosine (as trained)",
            "text_metric_epochs": epochs,
            **refit_and_score(loaded),
        }
        rows.append(row)
        print(json.dumps(row, default=str), flush=True)
    if args.out is not None:
        document = {
            **document_head(args.data, args.artifacts, loaded.config, args.protocol),
            "split": "test (choices on validation)",
            "metric": dataclasses.asdict(MetricSettings(epochs=args.epochs)),
            "test_cases": len(loaded.split.test.users),
            "rows": rows,
        }
        write_results(document, args.out)


if __name__ == "__main__":
    main()
