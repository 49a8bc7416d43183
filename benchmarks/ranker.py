"""Retrieval alone against retrieval + the ranking stage, side by side on trained lmrec artifacts.

The ranker (semrec.models.ranker) is fitted on the validation split only (80% of its shoppers
learn, 20% stop the boosting and fit the calibration), then both orders are scored by full ranking
on the test split; the ranker's probabilities are scored for calibration on every test shopper's
candidates.

usage: python benchmarks/ranker.py --artifacts A [--data ../shared/datasets/amazon-beauty]
       [--protocol loo] [--candidates 100] [--out results.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from semrec.evaluation.evaluator import evaluate
from semrec.evaluation.runner import RunSpec, load_trained, prepare, write_results
from semrec.hardware import cpu_info
from semrec.models.ranker import Ranker, calibration, candidates, fit_ranker, training_pairs
from semrec.models.sequential import SequentialRecommender

ROOT = Path(__file__).resolve().parents[1]


class Reranked:
    """A retrieval model whose top ``ranker.n_candidates`` are reordered by the ranker."""

    name = "lmrec+ranker"

    def __init__(self, model: Any, ranker: Ranker) -> None:
        self.model, self.ranker = model, ranker

    def recommend(
        self, histories: Sequence[np.ndarray], k: int = 10, exclude: Sequence[np.ndarray] | None = None
    ) -> np.ndarray:
        assert exclude is None or all(e is h for e, h in zip(exclude, histories, strict=True))
        return self.ranker.rerank(candidates(self.model, histories, self.ranker.n_candidates), k)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifacts", type=Path, required=True)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "datasets" / "amazon-beauty")
    parser.add_argument("--protocol", default="loo", choices=["loo", "time"])
    parser.add_argument("--candidates", type=int, default=100)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    os.environ.setdefault("SEMREC_PROGRESS", "0")
    spec = RunSpec(data=args.data, artifacts=args.artifacts, protocol=args.protocol)
    prepared = prepare(spec)
    model = load_trained(spec, prepared.dataset)
    if not isinstance(model, SequentialRecommender):
        raise SystemExit(f"{args.artifacts}: the ranker re-scores a sequential model (lmrec, sasrec)")
    counts = prepared.data.item_counts()
    started = time.perf_counter()
    ranker, info = fit_ranker(model, prepared.split.valid, args.candidates)
    fit_seconds = time.perf_counter() - started
    test = prepared.split.test
    rows: dict[str, Any] = {}
    for name, scorer in (("retrieval", model), ("retrieval+ranker", Reranked(model, ranker))):
        result = evaluate(scorer, test, counts, progress=False)  # type: ignore[arg-type]
        rows[name] = {k: round(v, 6) for k, v in result.metrics.items()}
        print(name, {k: rows[name][k] for k in ("hr@10", "ndcg@10", "hr@20", "ndcg@20")}, flush=True)
    x, y, _ = training_pairs(model, test, args.candidates, every_case=True)
    calibrated = calibration(ranker.probabilities(x[None])[0], y)
    print("test calibration", {k: calibrated[k] for k in ("log_loss", "ece", "pairs")}, flush=True)
    ratio = rows["retrieval+ranker"]["ndcg@10"] / max(rows["retrieval"]["ndcg@10"], 1e-12)
    print(f"NDCG@10 ratio ranker / retrieval: {ratio:.4f}")
    document = {
        "dataset": str(args.data.resolve()),
        "protocol": prepared.split.protocol,
        "split": "test",
        "artifacts": str(args.artifacts.resolve()),
        "candidates": args.candidates,
        "ranker": {**info, "fit_seconds": round(fit_seconds, 1), "trained_on": "validation split"},
        "metrics": rows,
        "ndcg@10_ratio": round(ratio, 4),
        "calibration_test": calibrated,
        "machine": {"cpu": cpu_info(), "platform": platform.platform()},
    }
    if args.out:
        write_results(document, args.out)
    else:
        print(json.dumps(document, indent=2))


if __name__ == "__main__":
    main()
