"""New products' own weights, judged by the list that is shown: trained lmrec artifacts scored side
by side with new products blended by the weights of the rest (`cold_weights=false`) and by weights
of their own (`cold_weights=true`: co-occurrence, text and title-word weights from the blend's grids,
each weighting judged by the validation NDCG@10 of all shoppers at the equal-exposure offset it
gets). In both rows the blend weights, the new products' weights and offset (`cold_rule=exposure`)
and the ranking stage are fitted on validation as `semrec train` does after the networks; the
ranking stage is also refitted on 4 more random splits of validation into fitting and held-out
shoppers, so that its held-out figure's spread is known. Then both are scored on the test.

usage: python benchmarks/cold_weights_exposure.py --artifacts A [--protocol cold-items|loo]
       [--data ../shared/datasets/amazon-beauty] [--ranker-splits 4] [--out results.json]

The rule for the default, written down before any figure of this benchmark: `cold_weights=true`
becomes lmrec's default when, on the networks of a fresh default cold-items training, the ranking
stage's held-out validation NDCG@10, averaged over its 5 splits, is at least what the blend's
weights give (the stage is what is served; retrieval's validation figure over all shoppers cannot
be lower by construction, the blend's weights being one of the weightings judged). Leave-one-out is
not moved by it (too few new-product shoppers to choose on), so its goal holds either way.

The networks are the trained ones in both rows: this measures the blend stage and what follows it.
Under loo validation holds too few new-product shoppers (51, fewer than 200) to choose weights on,
so both rows are the same model there.
"""

from __future__ import annotations

from blend_stage import arguments, compare


def main() -> None:
    parser = arguments(__doc__, ranker_splits=4)
    args = parser.parse_args()
    variants = [
        ({"new_products": "the blend's weights"}, {"cold_weights": False, "cold_rule": "exposure"}),
        (
            {"new_products": "own weights, judged at the exposure offset"},
            {"cold_weights": True, "cold_rule": "exposure"},
        ),
    ]
    compare(args, variants)


if __name__ == "__main__":
    main()
