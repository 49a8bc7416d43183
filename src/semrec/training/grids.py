"""The grids lmrec's blend-stage weights are chosen from on validation (:mod:`semrec.training.fitting`,
:mod:`semrec.training.new_products`)."""

# roughly geometric, and wide enough that a shop whose validation prefers more co-occurrence or text
# than amazon-beauty's still finds its optimum inside
PRIOR_WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0, 1.5, 2.0, 3.0, 5.0)
TEXT_WEIGHTS = (0.0, 1.0, 2.0, 3.0, 5.0, 7.0, 10.0, 15.0, 20.0, 30.0)
WORD_WEIGHTS = (0.0, 0.5, 1.0, 2.0, 3.0, 5.0, 7.0, 10.0, 15.0)
WORD_DECAYS = (0.3, 0.5, 0.7, 0.9)  # the title-word term's recency decay, chosen on validation
TERM_ALONE = {"prior": 0.0, "text": 0.0, "words": 1.0}  # the blend a word-term choice is judged by
