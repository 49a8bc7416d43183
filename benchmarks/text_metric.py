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

import dataclasses

from blend_stage import arguments, compare
from semrec.models.text_metric import MetricSettings


def main() -> None:
    parser = arguments(__doc__)
    parser.add_argument("--epochs", type=int, default=MetricSettings.epochs, help="text_metric_epochs")
    args = parser.parse_args()
    # as `semrec train --param text_metric_epochs=E` fits it: before the blend weights
    variants = [
        ({"text_term": "cosine (as trained)", "text_metric_epochs": 0}, {"text_metric_epochs": 0}),
        (
            {"text_term": "learned metric", "text_metric_epochs": args.epochs},
            {"text_metric_epochs": args.epochs},
        ),
    ]
    compare(args, variants, {"metric": dataclasses.asdict(MetricSettings(epochs=args.epochs))})


if __name__ == "__main__":
    main()
