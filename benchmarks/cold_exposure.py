"""Equal exposure for new products, in the list that is shown: trained lmrec artifacts scored side
by side with the new products' offset fitted by likelihood (the ranking stage orders as it
learned) and by exposure (new products hold the share of validation's top 10 that their share of
validation's next items asks for, in retrieval's order by the offset and in the ranking stage's by
its `cold_shift`), each with the blend's weights for new products and with their own
(`cold_weights`). Every row refits the blend stage and the ranking stage on validation as `semrec
train` does after the networks, then scores the test.

usage: python benchmarks/cold_exposure.py --artifacts A [--protocol cold-items|loo]
       [--data ../shared/datasets/amazon-beauty] [--ranker-splits 0] [--out results.json]

The networks are the trained ones in every row: this measures the blend stage and what follows it.
Under loo the own-weights row is left out: validation holds too few new-product shoppers (51) for
`cold_weights` to choose any.
"""

from __future__ import annotations

from typing import Any

from blend_stage import arguments, compare


def main() -> None:
    parser = arguments(__doc__)
    args = parser.parse_args()
    variants: list[tuple[dict[str, Any], dict[str, Any]]] = [
        ({"cold_rule": "likelihood", "new_products": "the blend's weights"}, {"cold_rule": "likelihood"}),
        (
            {"cold_rule": "exposure", "new_products": "the blend's weights"},
            {"cold_rule": "exposure", "cold_weights": False},
        ),
        (
            {"cold_rule": "exposure", "new_products": "own weights"},
            {"cold_rule": "exposure", "cold_weights": True},
        ),
    ]
    if args.protocol == "loo":  # its validation holds too few new-product shoppers to choose weights
        variants = variants[:2]
    compare(args, variants)


if __name__ == "__main__":
    main()
