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

from blend_stage import arguments, compare


def main() -> None:
    parser = arguments(__doc__, ranker_splits=4)
    args = parser.parse_args()
    variants = [
        ({"new_products": "the blend's weights"}, {"cold_weights": False}),
        ({"new_products": "own weights"}, {"cold_weights": True}),
    ]
    compare(args, variants)


if __name__ == "__main__":
    main()
