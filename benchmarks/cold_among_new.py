"""Where new-product shoppers' hits are lost: trained cold-items artifacts, the test's new-product
shoppers (and validation's) ranked three ways by each score (the blend and each of its parts):
among the products new at that time only, over the whole catalog at the fitted offset, and over
the whole catalog without validation's hidden products (never the test's targets).

usage: python benchmarks/cold_among_new.py --artifacts A [--data ../shared/datasets/amazon-beauty]
       [--out results.json]

A diagnostic: nothing is chosen here. Ranked among new products only, the figure says how well new
products are told apart; over the whole catalog, how they fare against the products seen in training.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from blend_stage import load
from cold_tradeoff import document_head, summary
from semrec.data.splits import EvalCases
from semrec.evaluation.runner import write_results

ROOT = Path(__file__).resolve().parents[1]
PARTS = ("blend", "network", "prior", "text")


def target_ranks(model: Any, cases: EvalCases, candidates: np.ndarray) -> dict[str, np.ndarray]:
    """Per score of PARTS, the 1-based rank of each case's target among ``candidates`` (items)."""
    out: dict[str, list[np.ndarray]] = {name: [] for name in PARTS}
    for start in range(0, len(cases.users), 1024):
        histories = cases.histories[start : start + 1024]
        targets = np.array([t[0] for t in cases.targets[start : start + 1024]])
        scores = {"blend": model.score(histories), **model.score_parts(histories)}
        for name in PARTS:
            matrix = scores[name].astype(np.float64)
            for row, history in enumerate(histories):
                matrix[row, history] = -np.inf
            matrix[:, ~candidates] = -np.inf
            value = matrix[np.arange(len(targets)), targets]
            out[name].append((matrix > value[:, None]).sum(axis=1) + 1)
    return {name: np.concatenate(ranks) for name, ranks in out.items()}


def main() -> None:
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=raw)
    parser.add_argument("--artifacts", type=Path, required=True)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "datasets" / "amazon-beauty")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    loaded = load(args.data, args.artifacts, "cold-items")
    model, split = loaded.model, loaded.split
    assert split.cold_items is not None and split.valid_cold_items is not None
    new = model.counts == 0
    everything = np.ones(len(new), dtype=bool)
    test_hidden = np.isin(np.arange(len(new)), split.cold_items)
    rows = np.flatnonzero(new[[t[0] for t in split.valid.targets]])
    valid_new = EvalCases(
        split.valid.users[rows],
        [split.valid.histories[r] for r in rows],
        [split.valid.targets[r] for r in rows],
    )
    settings = {
        # the test's new-product shoppers
        "test, among new products only": (split.test, new),
        "test, whole catalog": (split.test, everything),
        "test, whole catalog without validation's hidden products": (
            split.test,
            ~np.isin(np.arange(len(new)), split.valid_cold_items),
        ),
        # validation's new-product shoppers (the test's hidden products are never candidates there)
        "validation, among new products only": (valid_new, new & ~test_hidden),
        "validation, whole catalog": (valid_new, ~test_hidden),
    }
    results: dict[str, Any] = {}
    for label, (cases, candidates) in settings.items():
        ranks = target_ranks(model, cases, candidates)
        results[label] = {
            "cases": len(cases.users),
            "candidates": int(candidates.sum()),
            **{name: summary(rank, np.zeros(len(rank))) for name, rank in ranks.items()},
        }
        for name in PARTS:
            results[label][name].pop("new_share@10")
        print(label, json.dumps(results[label]), flush=True)
    if args.out is not None:
        document = {
            **document_head(args.data, args.artifacts, loaded.config, "cold-items"),
            "split": "test and validation new-product shoppers (nothing chosen)",
            "blend": {"weights": str(model.weights)},
            "results": results,
        }
        write_results(document, args.out)


if __name__ == "__main__":
    main()
