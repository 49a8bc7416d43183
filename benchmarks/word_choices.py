"""The title-word term's own choices on trained lmrec artifacts: its recency decay and whether a
title's first word counts as a word of its own (``word_decay``, ``word_lead``), chosen on validation
by the term alone (the default), against the term as it was before (the text affinity's decay 0.3,
no lead token). Each row refits the blend stage and the ranking stage on validation as `semrec
train` does, then scores the test, with the new-product shoppers' figures in retrieval's order
(cold-items).

usage: python benchmarks/word_choices.py --artifacts A [--protocol cold-items|loo]
       [--ranker-splits N] [--out results.json]
"""

from __future__ import annotations

from blend_stage import arguments, compare


def main() -> None:
    parser = arguments(__doc__)
    args = parser.parse_args()
    variants = [
        ({"word_term": "decay 0.3, no lead token (before)"}, {"word_decay": 0.3, "word_lead": 0}),
        (
            {"word_term": "decay and lead token chosen on validation (default)"},
            {"word_decay": -1.0, "word_lead": -1},
        ),
    ]
    about = {
        "about": "title-word term's decay and lead token; blend and ranking stage refitted on validation"
    }
    compare(args, variants, about)


if __name__ == "__main__":
    main()
