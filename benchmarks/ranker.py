"""Retrieval alone against retrieval + the ranking stage, side by side on trained lmrec artifacts.

The ranker (semrec.models.ranker) is the one the artifacts carry (`semrec train --ranker`), or is
fitted here the same way, on the validation split only (80% of its shoppers learn, 20% stop the
boosting and fit the calibration; under cold-items the test's hidden products are no candidates);
then both orders are scored by full ranking on the test split, and the ranker's probabilities are
scored for calibration on every test shopper's candidates.

`--cold-rule likelihood|exposure` first refits the new products' offset on validation by that rule,
as `semrec train --param cold_rule=...` does after the blend, then fits the ranker on it: the
networks and the blend are the artifacts', so this measures the rule without training again.

usage: python benchmarks/ranker.py --artifacts A [--data ../shared/datasets/amazon-beauty]
       [--protocol loo|time|cold-items] [--candidates 100] [--fresh 0] [--refit]
       [--cold-rule likelihood|exposure] [--out results.json]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time
from pathlib import Path
from typing import Any

from semrec.artifacts import read_config
from semrec.evaluation.evaluator import evaluate
from semrec.evaluation.runner import load_sequential, publish_test_results, ranker_calibration
from semrec.models.sequential_settings import COLD_RULES
from semrec.training.new_products import calibrate_cold
from semrec.training.ranker_fit import fit_ranker

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifacts", type=Path, required=True)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "datasets" / "amazon-beauty")
    parser.add_argument("--protocol", default="loo", choices=["loo", "time", "cold-items"])
    parser.add_argument("--candidates", type=int, default=100, help="when the ranker is fitted here")
    parser.add_argument("--fresh", type=int, default=0, help="new products added to the candidates")
    parser.add_argument("--refit", action="store_true", help="fit a ranker even if the artifacts carry one")
    parser.add_argument(
        "--cold-rule", choices=COLD_RULES, help="refit the cold offset by this rule, then the ranker"
    )
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    os.environ.setdefault("SEMREC_PROGRESS", "0")
    try:
        prepared, model = load_sequential(args.data, args.artifacts, args.protocol)
    except ValueError as error:
        raise SystemExit(str(error)) from None
    counts = prepared.data.item_counts()
    started = time.perf_counter()
    ranker = model.ranker
    offset = {"cold_offset_of_the_artifacts": model.cold_offset}
    if args.cold_rule is not None:
        if not hasattr(model.config, "cold_rule"):
            raise SystemExit(f"--cold-rule: {model.name} has no cold offset to fit (lmrec has)")
        model.config = dataclasses.replace(model.config, cold_rule=args.cold_rule, calibrate_cold=True)
        calibrate_cold(model, prepared.data)
        offset["cold_offset"] = model.cold_offset
        offset["cold_calibration"] = getattr(model, "cold_calibration", None)
        print("cold offset", offset, flush=True)
    if ranker is None or args.refit or args.cold_rule is not None:
        ranker, info = fit_ranker(
            model,
            prepared.split.valid,
            args.candidates,
            never=prepared.split.cold_items,
            fresh=args.fresh,
            cold_rule=str(getattr(model.config, "cold_rule", "likelihood")),
        )
        info = {**info, "fit_seconds": round(time.perf_counter() - started, 1), "fitted_by": "this benchmark"}
    else:
        info = {**(model.ranker_info or read_config(args.artifacts)["training"].get("ranker", {}))}
        info["fitted_by"] = "semrec train"
    test = prepared.split.test
    rows: dict[str, Any] = {}
    for name, stage in (("retrieval", None), ("retrieval+ranker", ranker)):
        model.ranker = stage
        result = evaluate(model, test, counts, progress=False)
        rows[name] = {k: round(v, 6) for k, v in result.metrics.items()}
        print(name, {k: rows[name][k] for k in ("hr@10", "ndcg@10", "hr@20", "ndcg@20")}, flush=True)
    model.ranker = ranker
    calibrated = ranker_calibration(model, test)
    print("test calibration", {k: calibrated[k] for k in ("log_loss", "ece", "pairs")}, flush=True)
    ratio = rows["retrieval+ranker"]["ndcg@10"] / max(rows["retrieval"]["ndcg@10"], 1e-12)
    print(f"NDCG@10 ratio ranker / retrieval: {ratio:.4f}")
    fields = {
        "candidates": ranker.n_candidates,
        "fresh_candidates": ranker.fresh,
        "ranker": {**info, "trained_on": "validation split"},
        "cold": offset,
        "metrics": rows,
        "ndcg@10_ratio": round(ratio, 4),
        "calibration_test": calibrated,
    }
    publish_test_results(args.data, args.artifacts, prepared, fields, args.out)


if __name__ == "__main__":
    main()
