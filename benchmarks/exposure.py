"""Fair exposure: NDCG@10 against the item-exposure Gini of the top 10, over the server's
``exposure_boost`` (a calibrated boost of under-exposed products, semrec.models.exposure).

    python benchmarks/exposure.py --artifacts DIR [--data ../shared/datasets/amazon-beauty]
        [--boosts 0,0.02,...] [--reduction 0.25] [--out results/exposure.json]

The artifacts' own split (leave-one-out unless they say otherwise) gives validation and test
shoppers. Each shopper's 100 best candidates and their scores come from the model once; each boost
then re-ranks them as the server does: shoppers served in batches of 256 in a fixed random order,
each list's candidates penalised by how often the lists before it showed them ("shown"). A
baseline curve penalises training popularity instead ("popularity"). The boost is chosen on
validation alone: the smallest of the grid whose "shown" lists lower validation's Gini@10 by
--reduction (relative); the test split reports what it costs there. Also written: exposure by
popularity band and by brand, accuracy by shopper activity.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from semrec.evaluation.evaluator import HISTORY_BUCKETS, _history_bucket, popularity_groups
from semrec.evaluation.exposure import exposure_report
from semrec.evaluation.metrics import hit_matrix, per_user_metrics
from semrec.evaluation.runner import load_sequential
from semrec.models.exposure import ExposureReranked
from serving import ROOT, machine, write_result

GRID = "0,0.05,0.1,0.15,0.2,0.25,0.3,0.35,0.4,0.5,0.6,0.8,1.0"


def score(ranked: np.ndarray, cases: Any, groups: np.ndarray, brands: np.ndarray | None) -> dict[str, Any]:
    per_user = per_user_metrics(
        hit_matrix(ranked, cases.targets), np.ones(len(ranked), dtype=np.int64), (10,)
    )
    activity = np.array([_history_bucket(len(h)) for h in cases.histories], dtype=object)
    return {
        "ndcg@10": round(float(per_user["ndcg@10"].mean()), 6),
        "hr@10": round(float(per_user["hr@10"].mean()), 6),
        **exposure_report(ranked, groups, brands),
        "ndcg@10_by_activity": {
            label: round(float(per_user["ndcg@10"][activity == label].mean()), 6)
            for label in (_history_bucket(low) for low, _ in HISTORY_BUCKETS)
            if (activity == label).any()
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--artifacts", type=Path, required=True)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "datasets" / "amazon-beauty")
    parser.add_argument("--boosts", default=GRID)
    parser.add_argument("--reduction", type=float, default=0.25)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    boosts = [float(b) for b in args.boosts.split(",")]
    prepared, model = load_sequential(args.data, args.artifacts)
    counts = prepared.data.item_counts()
    groups = popularity_groups(counts)
    items = prepared.dataset.items
    brands = items["brand"].fillna("").to_numpy() if "brand" in items.columns else None
    curves: dict[str, list[dict[str, Any]]] = {}
    baseline: dict[str, list[dict[str, Any]]] = {}
    for split in ("valid", "test"):
        cases = prepared.split.cases(split)
        order = np.random.default_rng(0).permutation(len(cases.histories))  # the order shoppers come in
        histories = [cases.histories[i] for i in order]
        reranker = ExposureReranked(model, counts, 0.0)
        parts = [
            reranker.candidates(histories[i : i + 1024], histories[i : i + 1024])
            for i in range(0, len(histories), 1024)
        ]
        candidates = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
        back = np.argsort(order)  # lists back in the cases' order, to score them
        curves[split], baseline[split] = [], []
        for signal, out in (("shown", curves[split]), ("popularity", baseline[split])):
            reranker = ExposureReranked(model, counts, 0.0, signal=signal)  # type: ignore[arg-type]
            for boost in boosts:
                reranker.boost = boost
                ranked = reranker.rerank(*candidates, 10)[back]
                row = {"boost": boost, **score(ranked, cases, groups, brands)}
                out.append(row)
                print(split, signal, {k: v for k, v in row.items() if not isinstance(v, dict)}, flush=True)
    base = {split: curves[split][boosts.index(0.0)] if 0.0 in boosts else None for split in curves}
    if base["valid"] is None or base["test"] is None:
        raise SystemExit("--boosts must include 0 (the lists as served without the boost)")
    target = (1 - args.reduction) * base["valid"]["gini@10"]
    chosen = next((row["boost"] for row in curves["valid"] if row["gini@10"] <= target), None)
    summary: dict[str, Any] = {"chosen_on_validation": chosen, "gini_reduction_goal": args.reduction}
    if chosen is not None:
        test = next(row for row in curves["test"] if row["boost"] == chosen)
        summary |= {
            "test_gini@10": [base["test"]["gini@10"], test["gini@10"]],
            "test_gini_reduction": round(1 - test["gini@10"] / base["test"]["gini@10"], 4),
            "test_ndcg@10": [base["test"]["ndcg@10"], test["ndcg@10"]],
            "test_ndcg_change": round(test["ndcg@10"] / base["test"]["ndcg@10"] - 1, 4),
        }
    write_result(
        {
            "benchmark": "exposure",
            "dataset": args.data.resolve().name,
            "artifacts": str(args.artifacts),
            "protocol": prepared.split.protocol,
            "split": "valid and test",
            "machine": machine(),
            "curves": curves,
            "popularity_baseline": baseline,
            "summary": summary,
        },
        args.out,
    )


if __name__ == "__main__":
    main()
