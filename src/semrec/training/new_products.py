"""How lmrec scores products with no training events, fitted on validation after the blend weights:
their own weights (``cold_weights``) and their offset (``calibrate_cold``, by ``cold_rule``)."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from semrec.models.base import PartScores, TrainingData
from semrec.models.blend import blend_parts
from semrec.training.grids import PRIOR_WEIGHTS, TEXT_WEIGHTS, WORD_WEIGHTS

if TYPE_CHECKING:
    from semrec.models.sequential import SequentialRecommender

log = logging.getLogger("semrec.models")


def fit_new_products(model: SequentialRecommender, data: TrainingData) -> None:
    """New products' own blend weights (how they are ordered among themselves), then their offset
    (how many of them reach a list), both on validation."""
    fit_new_item_weights(model, data)
    calibrate_cold(model, data)


def fit_new_item_weights(model: SequentialRecommender, data: TrainingData) -> None:
    """Chooses the weights of items with no training events, when the ``cold_weights`` setting asks
    for it. A new product's ID part is borrowed from its text neighbours, so its text and title
    words may tell more than among trained items; the network keeps weight 1, so its scale stays
    shared. Under ``cold_rule=exposure``, by the list that is shown (:func:`choose_for_exposure`);
    under ``likelihood``, by how new products are ordered among themselves."""
    model.cold_prior_weight = model.cold_text_weight = model.cold_word_weight = None
    model.cold_weights_validation = None
    cold = model.counts == 0
    if not bool(getattr(model.config, "cold_weights", False)) or not cold.any():
        return
    if not bool(getattr(model.config, "calibrate_cold", False)):
        # a fixed offset was set for the blend's scale: new weights would change what it means
        log.warning(
            "cold_weights needs calibrate_cold (the offset is fitted under the new weights): left off"
        )
        return
    if str(getattr(model.config, "cold_rule", "likelihood")) == "exposure":
        if data.exposure_blend_validator is not None:
            choose_for_exposure(model, data, cold)
        return
    if data.new_item_blend_validator is None:
        return
    weights = model.weights
    prior_grid = PRIOR_WEIGHTS if weights.prior > 0 else (0.0,)  # a term the blend leaves out stays out
    text_grid = TEXT_WEIGHTS if weights.text > 0 else (0.0,)
    if len(prior_grid) * len(text_grid) == 1:
        return
    grid = [(p, t) for p in prior_grid for t in text_grid]
    blends = [{"prior": p, "text": t, "words": weights.words} for p, t in grid]
    found = data.new_item_blend_validator(model.score_parts, blends, cold)
    if found is None:
        log.info("new products keep the blend's weights (validation holds too few new products to choose)")
        return
    ndcgs, cases = found
    scores = dict(zip(grid, ndcgs, strict=True))
    own = (weights.prior, weights.text)
    # the best; among equals the blend's own weights, then the smallest
    best = max(scores, key=lambda w: (scores[w], w == own, -w[0], -w[1]))
    model.cold_prior_weight, model.cold_text_weight = best
    model.cold_weights_validation = {
        "rule": "among new products",
        "cases": cases,
        "ndcg_among_new": round(scores[best], 6),
        "ndcg_among_new_with_blend_weights": round(scores[own], 6) if own in scores else None,
    }
    log.info(
        "new products: co-occurrence weight %.2f, text weight %.2f chosen on %d validation shoppers "
        "whose next item was new (NDCG@10 among new products %.4f; %s with the blend's)",
        best[0],
        best[1],
        cases,
        scores[best],
        f"{scores[own]:.4f}" if own in scores else "not on the grid",
    )
    for name, value, options in (("co-occurrence", best[0], prior_grid), ("text", best[1], text_grid)):
        if len(options) > 1 and value == max(options):
            log.warning("new products' %s weight %.2f is the largest the grid offers", name, value)


def choose_for_exposure(model: SequentialRecommender, data: TrainingData, cold: np.ndarray) -> None:
    """New products' co-occurrence, text and title-word weights from the blend's grids (each term
    the model scores; the blend's own weights among them), judged by the validation NDCG@10 of all
    shoppers at the equal-exposure offset each weighting gets: new products hold the same share of
    the top 10 under every weighting, so what is chosen is which new products fill it, and for
    whom. Among equals, the blend's own weights."""
    assert data.exposure_blend_validator is not None
    weights = model.weights
    # every term the model scores (score_parts), even one the blend weighs 0 for trained items
    prior_grid = PRIOR_WEIGHTS if model.prior is not None else (0.0,)
    text_grid = TEXT_WEIGHTS if model.affinity is not None else (0.0,)
    word_grid = WORD_WEIGHTS if model.words is not None and model.word_vectors is not None else (0.0,)
    own = (weights.prior, weights.text, weights.words)
    grid = [own, *((p, t, w) for p in prior_grid for t in text_grid for w in word_grid if (p, t, w) != own)]
    if len(grid) == 1:
        return
    warm = {"prior": weights.prior, "text": weights.text, "words": weights.words}
    blends = [{"prior": p, "text": t, "words": w} for p, t, w in grid]
    started = time.perf_counter()
    found = data.exposure_blend_validator(model.score_parts, warm, blends, cold)
    if found is None:
        log.info("new products keep the blend's weights (validation holds too few new products to choose)")
        return
    scores = dict(zip(grid, found.ndcg, strict=True))
    best = max(grid, key=lambda w: (scores[w], w == own))  # ties: the blend's own, then the first
    if best != own:
        model.cold_prior_weight, model.cold_text_weight, model.cold_word_weight = best
    model.cold_weights_validation = {
        "rule": "all shoppers at the exposure offset",
        "cases": found.cold_targets,
        "chosen": {"cooccurrence": best[0], "text": best[1], "words": best[2]},
        "ndcg@10": round(scores[best], 6),
        "ndcg@10_with_blend_weights": round(scores[own], 6),
        "weightings": len(grid),
        "seconds": round(time.perf_counter() - started, 1),
    }
    log.info(
        "new products: co-occurrence weight %.2f, text weight %.2f, title-word weight %.2f chosen on "
        "validation at their exposure offsets (NDCG@10 of all shoppers %.4f; %.4f with the blend's; "
        "%d validation shoppers chose a new product)",
        *best,
        scores[best],
        scores[own],
        found.cold_targets,
    )
    for name, value, options in (
        ("co-occurrence", best[0], prior_grid),
        ("text", best[1], text_grid),
        ("title-word", best[2], word_grid),
    ):
        if len(options) > 1 and value == max(options) > 0:
            log.warning("new products' %s weight %.2f is the largest the grid offers", name, value)


def offset_free_blend(model: SequentialRecommender) -> PartScores:
    """Part scores of one part, 'blend': the model's blend as it scores (new products with their own
    weights) without the cold offset, which is what an offset is fitted on."""
    weights, cold = replace(model.weights, cold=0.0), model.counts == 0

    def blended(histories: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
        parts = model.score_parts(histories)
        return {"blend": blend_parts(parts, weights, cold)}

    return blended


def calibrate_cold(model: SequentialRecommender, data: TrainingData) -> None:
    """Fits the offset of items with no training events on validation by the ``cold_rule`` setting
    (see :func:`~semrec.evaluation.evaluator.fit_cold_offset`), when ``calibrate_cold`` asks for it
    and validation holds enough new products; otherwise the ``cold_offset`` setting stays."""
    if not bool(getattr(model.config, "calibrate_cold", False)) or data.cold_calibrator is None:
        return
    cold = model.counts == 0
    if not cold.any():
        return
    rule = str(getattr(model.config, "cold_rule", "likelihood"))
    fitted = data.cold_calibrator(offset_free_blend(model), {"blend": 1.0}, cold, rule)
    if fitted is None:
        log.info("cold offset %.2f (validation holds too few new products to fit it)", model.cold_offset)
        return
    model.cold_offset, targets = fitted
    model.cold_calibration = {"offset": model.cold_offset, "validation_targets": targets, "rule": rule}
    log.info(
        "cold offset %.3f fitted (%s) on %d validation targets never seen in training",
        model.cold_offset,
        rule,
        targets,
    )
