"""The title-word affinity term (`word_weight`) on trained lmrec artifacts: the blend stage refitted
on validation with the term (its weight chosen with the text weight, as `semrec train` does), then
the test, with the new-product shoppers' figures in retrieval's order (cold-items).

usage: python benchmarks/word_term.py --artifacts A [--protocol cold-items|loo] [--without]
       [--out results.json]

``--without`` adds the row with the term off (word_weight=0), refitted the same way, side by side.
"""

from __future__ import annotations

from blend_stage import arguments, compare


def main() -> None:
    parser = arguments(__doc__)
    parser.add_argument("--without", action="store_true", help="also the row with the term off")
    args = parser.parse_args()
    variants = [({"word_weight": "chosen on validation"}, {"word_weight": -1.0})]
    if args.without:
        variants.insert(0, ({"word_weight": "0 (off)"}, {"word_weight": 0.0}))
    compare(args, variants, {"about": "title-word affinity term, blend stage refitted on validation"})


if __name__ == "__main__":
    main()
