"""Do new products deserve blend weights of their own? Trained lmrec artifacts scored twice, side
by side: new products blended with the weights of the rest, and with their own co-occurrence and
text weights (the `cold_weights` setting: chosen by how well they order validation's new products
for the validation shoppers who chose one). In both rows the blend weights, the new products'
offset and the ranking stage are fitted on validation as `semrec train` does after the networks;
then both are scored on the test.

usage: python benchmarks/new_product_weights.py --artifacts A [--protocol cold-items|loo]
       [--data ../shared/datasets/amazon-beauty] [--ranker-splits 4] [--out results.json]

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

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=raw)
    parser.add_argument("--artifacts", type=Path, required=True)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "datasets" / "amazon-beauty")
    parser.add_argument("--protocol", default="cold-items", choices=["cold-items", "loo"])
    parser.add_argument(
        "--ranker-splits", type=int, default=4, help="other validation splits to refit the ranking stage on"
    )
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    loaded = load(args.data, args.artifacts, args.protocol)
    rows: list[dict[str, Any]] = []
    for own in (False, True):
        loaded.model.config = dataclasses.replace(loaded.model.config, cold_weights=own)
        name = "own weights" if own else "the blend's weights"
        row = {"new_products": name, **refit_and_score(loaded, args.ranker_splits)}
        rows.append(row)
        print(json.dumps(row, default=str), flush=True)
    if args.out is not None:
        document = {
            **document_head(args.data, args.artifacts, loaded.config, args.protocol),
            "split": "test (choices on validation)",
            "test_cases": len(loaded.split.test.users),
            "rows": rows,
        }
        write_results(document, args.out)


if __name__ == "__main__":
    main()
