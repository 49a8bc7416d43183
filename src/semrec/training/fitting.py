"""Training orchestration of the sequential models: their networks through the training loop, then
the blend weights and the new products' offset, chosen on validation (never on test)."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from semrec.data.text import catalog_texts
from semrec.encoders.factory import is_exported
from semrec.encoders.transformer import TextEncoder
from semrec.encoders.whitening import whiten
from semrec.models.base import TrainingData
from semrec.models.itemknn import ItemKNNRecommender
from semrec.models.text_metric import MetricSettings, fit_text_metric
from semrec.models.words import WordVectors, catalog_words, word_affinity
from semrec.training.grids import PRIOR_WEIGHTS, TERM_ALONE, TEXT_WEIGHTS, WORD_DECAYS, WORD_WEIGHTS
from semrec.training.new_products import fit_new_products
from semrec.training.text_finetune import finetune_encoder
from semrec.training.trainer import train_loop

if TYPE_CHECKING:
    from semrec.models.sequential import SequentialRecommender

log = logging.getLogger("semrec.models")

__all__ = ["WORD_DECAYS", "fit_blend", "fit_ranking_stage", "fit_sequential", "fit_word_weight"]


def fit_sequential(model: SequentialRecommender, data: TrainingData) -> None:
    """Trains a sequential model's networks (each judged on validation by its own early stopping),
    then its blend weights and the calibration of new products, all on the training data and
    validation only."""
    model.build(data.item_counts(), text_vectors(model, data))
    config, validator = model.config, data.validator
    members, whole = model.members(), model.net
    model.training_logs = []
    for index, member in enumerate(members):
        model.net = member  # early stopping judges each network on its own

        def report(entry: dict[str, float], number: int = index + 1) -> None:
            log.info("%s network %d %s", model.name, number, entry)

        checkpoint = data.checkpoint
        if checkpoint is not None and len(members) > 1:
            checkpoint = checkpoint.with_name(f"{checkpoint.stem}-{index}{checkpoint.suffix}")
        model.training_logs.append(
            train_loop(
                member,
                data.sequences,
                epochs=config.epochs,
                batch_size=config.batch_size,
                lr=config.lr,
                weight_decay=config.weight_decay,
                max_len=config.max_len,
                seed=config.seed + index,
                device=model.device,
                validate=(lambda: validator(model)) if validator is not None else None,
                eval_every=config.eval_every,
                patience=config.patience,
                time_budget_s=config.time_budget_minutes * 60 / len(members),
                checkpoint=checkpoint,
                on_epoch=report,
                prefixes=config.prefixes,
                text_loss=float(getattr(config, "text_loss", 0.0)),
            )
        )
    model.net = whole
    if len(members) > 1 and validator is not None:
        model.ensemble_validation = validator(model)
        log.info(
            "%s: %d networks together, valid NDCG@10 %.4f",
            model.name,
            len(members),
            model.ensemble_validation,
        )
    fit_blend(model, data)
    fit_ranking_stage(model, data)


def fit_ranking_stage(model: SequentialRecommender, data: TrainingData) -> None:
    """Fits the ranker over the blend's top ``ranker`` candidates on validation, when asked."""
    model.ranker, model.ranker_info = None, None
    n = int(getattr(model.config, "ranker", 0))
    if n <= 0:
        return
    if n < 10:
        raise ValueError(f"ranker must be 0 (off) or at least 10 candidates, got {n}")
    if data.ranker_trainer is None:
        log.warning("%s: no ranking stage: it learns from a validation split, and none was given", model.name)
        model.ranker_info = {"candidates": n, "left_out": "no validation split"}
        return
    from semrec.models.ranker import NothingToLearn

    started = time.perf_counter()
    try:
        ranker, info = data.ranker_trainer(model, n)
    except NothingToLearn as error:
        log.warning("%s: no ranking stage: %s", model.name, error)
        model.ranker_info = {"candidates": n, "left_out": str(error)}
        return
    model.ranker, model.ranker_info = ranker, {**info, "seconds": round(time.perf_counter() - started, 1)}
    log.info("%s: ranking stage over %d candidates fitted on validation %s", model.name, n, info)


def fit_blend(model: SequentialRecommender, data: TrainingData) -> None:
    """Blends the network with item-to-item co-occurrence from the same training sequences (and,
    for models that read text, the shopper's text affinity), in log space; each weight is fixed
    by the settings or picked on the validation split (never on test)."""
    prior_setting = float(model.config.cooccurrence_weight)
    text_setting = float(getattr(model.config, "text_weight", 0.0))
    model.prior, model.prior_weight, model.text_weight = None, 0.0, 0.0
    model.cold_prior_weight = model.cold_text_weight = None
    model.cold_offset = float(getattr(model.config, "cold_offset", 0.0))
    if prior_setting != 0.0:
        model.prior = ItemKNNRecommender().fit(TrainingData(data.sequences, data.items))
    if model.affinity is None:
        text_setting = 0.0
    model.text_metric = None
    metric_epochs = int(getattr(model.config, "text_metric_epochs", 0))
    if model.affinity is not None and text_setting != 0.0 and metric_epochs > 0:
        settings = MetricSettings(epochs=metric_epochs, seed=int(model.config.seed))
        model.text_metric = fit_text_metric(data.sequences, model.affinity, model.affinity_decay, settings)
    prior_grid = PRIOR_WEIGHTS if prior_setting < 0 else (prior_setting,)
    text_grid = TEXT_WEIGHTS if text_setting < 0 else (text_setting,)
    if data.validator is None and data.blend_validator is None:  # nothing to choose on
        prior_grid = (PRIOR_WEIGHTS[3],) if prior_setting < 0 else prior_grid
        text_grid = (TEXT_WEIGHTS[3],) if text_setting < 0 else text_grid
    grid = [(p, t) for p in prior_grid for t in text_grid]
    if len(grid) == 1:
        model.prior_weight, model.text_weight = grid[0]
        fit_word_weight(model, data, text_grid)
        fit_new_products(model, data)
        return
    blends = [{"prior": p, "text": t, "words": 0.0} for p, t in grid]
    scores = dict(zip(grid, validate_blends(model, data, blends), strict=True))
    # the best validation score; among equals, the smallest weights
    model.prior_weight, model.text_weight = max(scores, key=lambda w: (scores[w], -w[0], -w[1]))
    log.info(
        "co-occurrence weight %.2f, text weight %.2f chosen on validation (NDCG@10 %.4f)",
        model.prior_weight,
        model.text_weight,
        scores[(model.prior_weight, model.text_weight)],
    )
    model.blend_validation = {f"{p:g},{t:g}": round(v, 6) for (p, t), v in scores.items()}
    word_grid = fit_word_weight(model, data, text_grid)
    fit_new_products(model, data)
    for name, value, options in (
        ("co-occurrence", model.prior_weight, prior_grid),
        ("text", model.text_weight, text_grid),
        ("title-word", model.word_weight, word_grid),
    ):
        if len(options) > 1 and value == max(options) > 0:
            log.warning(
                "%s weight %.2f is the largest the grid offers: validation may prefer more; "
                "set it with --param",
                name,
                value,
            )


def validate_blends(
    model: SequentialRecommender, data: TrainingData, blends: list[dict[str, float]]
) -> list[float]:
    """Validation NDCG@10 of each blend ('prior', 'text', 'words' weights): every blend from one pass
    over the validation shoppers when the data can, else one validation run per blend."""
    if data.blend_validator is not None:
        return data.blend_validator(model.score_parts, blends)
    assert data.validator is not None
    scores = []
    for weights in blends:
        model.prior_weight, model.text_weight, model.word_weight = (
            weights["prior"],
            weights["text"],
            weights["words"],
        )
        scores.append(data.validator(model))
    return scores


def fit_word_weight(
    model: SequentialRecommender, data: TrainingData, text_grid: tuple[float, ...]
) -> tuple[float, ...]:
    """The title-word affinity term (:mod:`semrec.models.words`): its vocabulary from the training
    catalog's titles, then its weight, fixed by the ``word_weight`` setting or chosen on validation
    together with the text weight (the two read the same titles, so one may take the other's
    place), the co-occurrence weight kept. Returns the grid of word weights it chose from."""
    setting = float(getattr(model.config, "word_weight", 0.0))
    model.words, model.word_vectors, model.word_weight = None, None, 0.0
    if setting == 0.0 or not getattr(model, "reads_words", False):
        return ()
    model.words, model.word_vectors = choose_words(model, data)
    word_grid = WORD_WEIGHTS if setting < 0 else (setting,)
    if data.validator is None and data.blend_validator is None:
        word_grid = (WORD_WEIGHTS[2],) if setting < 0 else word_grid
    texts = text_grid if model.affinity is not None and len(text_grid) > 1 else (model.text_weight,)
    grid = [(t, w) for t in texts for w in word_grid]
    if len(grid) == 1:
        model.text_weight, model.word_weight = grid[0]
    else:
        prior = model.prior_weight
        blends = [{"prior": prior, "text": t, "words": w} for t, w in grid]
        scores = dict(zip(grid, validate_blends(model, data, blends), strict=True))
        model.text_weight, model.word_weight = max(scores, key=lambda w: (scores[w], -w[1], -w[0]))
        log.info(
            "text weight %.2f, title-word weight %.2f chosen on validation (NDCG@10 %.4f)",
            model.text_weight,
            model.word_weight,
            scores[(model.text_weight, model.word_weight)],
        )
        model.blend_validation = {
            **(model.blend_validation or {}),
            **{f"{prior:g},{t:g},{w:g}": round(v, 6) for (t, w), v in scores.items()},
        }
    if model.word_weight <= 0:  # left out: scoring does not compute it
        model.words, model.word_vectors, model.word_weight = None, None, 0.0
    return word_grid


def choose_words(model: SequentialRecommender, data: TrainingData) -> tuple[WordVectors, sp.csr_matrix]:
    """The title-word term's vocabulary, with its recency decay and whether a title's first word
    counts as a word of its own (``word_decay``, ``word_lead``: given, or chosen by how well the
    term alone ranks validation's next items), and the catalog's word vectors under it."""
    texts = catalog_words(data.items)
    decay_setting = float(getattr(model.config, "word_decay", -1.0))
    lead_setting = int(getattr(model.config, "word_lead", -1))
    decays = WORD_DECAYS if decay_setting < 0 else (decay_setting,)
    leads = (False, True) if lead_setting < 0 else (bool(lead_setting),)
    if data.blend_validator is None:  # nothing to choose on
        decays = (0.5,) if decay_setting < 0 else decays
        leads = (True,) if lead_setting < 0 else leads
    fitted = {lead: WordVectors.fit(texts, lead=lead) for lead in leads}
    vectors = {lead: fitted[lead].transform(texts) for lead in leads}
    options = [(lead, decay) for lead in leads for decay in decays]
    lead, decay = options[0]
    model.word_validation = None
    if len(options) > 1:
        assert data.blend_validator is not None
        scores = {}
        for option in options:

            def parts(
                histories: Sequence[np.ndarray], option: tuple[bool, float] = option
            ) -> dict[str, np.ndarray]:
                return {"words": word_affinity(histories, vectors[option[0]], option[1])}

            scores[option] = data.blend_validator(parts, [TERM_ALONE])[0]
        lead, decay = max(options, key=lambda o: scores[o])  # ties: the first (no lead, faster decay)
        model.word_validation = {f"lead={int(o[0])},decay={o[1]:g}": round(v, 6) for o, v in scores.items()}
        log.info(
            "title words: lead %s, decay %.1f chosen on validation (the term alone: NDCG@10 %.4f)",
            lead,
            decay,
            scores[(lead, decay)],
        )
    return WordVectors(fitted[lead].vectorizer, decay, lead), vectors[lead]


def text_vectors(model: SequentialRecommender, data: TrainingData) -> np.ndarray | None:
    """The catalog's text vectors the model trains on: the frozen encoder's, or (``mode`` lora /
    full) those of the encoder first adapted to the shop's sequences."""
    mode = getattr(model.config, "mode", "frozen")
    adopt = getattr(model, "adopt_encoder", None)  # lmrec: a model that reads text
    if mode == "frozen" or adopt is None:
        return model.text_vectors_for(data)
    config = model.config
    if is_exported(config.encoder):
        raise ValueError("lora / full fine-tuning needs a PyTorch encoder, not an exported ONNX one")
    encoder = TextEncoder(config.encoder, max_length=config.text_max_length, device=config.device)
    texts = catalog_texts(data.items)
    entry = finetune_encoder(
        encoder,
        texts,
        data.sequences,
        mode,
        steps=config.encoder_steps,
        time_budget_s=config.encoder_minutes * 60,
        lr=config.encoder_lr,
        seed=config.seed,
    )
    log.info("encoder fine-tuned: %s", entry)
    adopt(encoder, entry)
    vectors = encoder.encode(texts, progress="embedding items with the adapted encoder")
    return whiten(vectors, config.text_components)
