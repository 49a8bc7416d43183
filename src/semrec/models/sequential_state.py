"""What a trained sequential recommender writes to its artifacts and reports: its files and its
training summary (kept apart from the scoring code in :mod:`semrec.models.sequential`)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp
import torch

from semrec.models.exported import (
    METRIC_FILE,
    WORD_VECTORS_FILE,
    load_scoring_state,
    load_text_metric,
    load_words,
)

if TYPE_CHECKING:
    from semrec.models.sequential import SequentialRecommender


def training_summary(model: SequentialRecommender) -> dict[str, Any]:
    """The networks' training logs and every choice made on validation, for config.json and reports."""
    records = getattr(model, "training_logs", [])
    summary: dict[str, Any] = dataclasses.asdict(records[0]) if len(records) == 1 else {}
    if len(records) > 1:
        summary["networks"] = [dataclasses.asdict(record) for record in records]
        summary["seconds"] = sum(record.seconds for record in records)
        summary["ensemble_valid_ndcg@10"] = model.ensemble_validation
    if model.prior is not None:
        summary["cooccurrence_weight"] = model.prior_weight
    if model.affinity is not None:
        summary["text_weight"] = model.text_weight
    if model.reads_words:
        summary["word_weight"] = model.word_weight
    if model.words is not None:
        summary["word_lead"], summary["word_decay"] = model.words.lead, model.words.decay
    if model.word_validation is not None:
        summary["word_validation_ndcg@10"] = model.word_validation
    if model.blend_validation is not None:
        summary["blend_validation_ndcg@10"] = model.blend_validation
    own = (model.cold_prior_weight, model.cold_text_weight, model.cold_word_weight)
    if model.cold_weights_validation is not None or any(w is not None for w in own):
        summary["new_product_weights"] = {
            "cooccurrence": model.cold_prior_weight,
            "text": model.cold_text_weight,
            "words": model.cold_word_weight,
            **(model.cold_weights_validation or {}),
        }
    summary["cold_offset"] = model.cold_offset
    if model.cold_calibration is not None:
        summary["cold_calibration"] = model.cold_calibration
    if model.ranker_info is not None:
        summary["ranker"] = model.ranker_info
    return summary


def save_state(model: SequentialRecommender, directory: Path) -> None:
    """Writes the network, its item vectors, the blend's terms and weights, and the ranking stage."""
    torch.save(model.net.state_dict(), directory / "weights.pt")
    np.save(directory / "train_counts.npy", model.counts)
    np.save(directory / "item_vectors.npy", model.item_vectors())
    if model.text_vectors is not None:
        np.save(directory / "text_vectors.npy", model.text_vectors)
    if model.text_metric is not None:
        np.save(directory / METRIC_FILE, model.text_metric)
    if model.prior is not None:
        (directory / "prior").mkdir()
        model.prior.save_state(directory / "prior")
    if model.words is not None and model.word_vectors is not None:
        model.words.save(directory)
        sp.save_npz(directory / WORD_VECTORS_FILE, model.word_vectors)
    blend: dict[str, float] = {
        "cooccurrence_weight": model.prior_weight,
        "text_weight": model.text_weight,
        "word_weight": model.word_weight,
        "cold_offset": model.cold_offset,
    }
    # only when chosen: older readers take every value as a number
    if model.cold_prior_weight is not None:
        blend["cold_cooccurrence_weight"] = model.cold_prior_weight
    if model.cold_text_weight is not None:
        blend["cold_text_weight"] = model.cold_text_weight
    if model.cold_word_weight is not None:
        blend["cold_word_weight"] = model.cold_word_weight
    (directory / "blend.json").write_text(json.dumps(blend))
    if model.ranker is not None:
        model.ranker.save(directory / "ranker")


def load_state(model: SequentialRecommender, directory: Path) -> None:
    """Restores what :func:`save_state` wrote; the model is then ready to score."""
    text = directory / "text_vectors.npy"
    model.build(np.load(directory / "train_counts.npy"), np.load(text) if text.exists() else None)
    model.net.load_state_dict(torch.load(directory / "weights.pt", map_location=model.device))
    model.net.eval()
    model.prior, blend, model.ranker = load_scoring_state(directory)
    model.prior_weight = float(blend["cooccurrence_weight"] or 0.0)
    model.text_weight = float(blend["text_weight"] or 0.0)
    model.word_weight = float(blend["word_weight"] or 0.0)
    model.words, model.word_vectors = load_words(directory)
    model.cold_offset = float(blend["cold_offset"] or 0.0)
    model.cold_prior_weight = blend["cold_cooccurrence_weight"]
    model.cold_text_weight = blend["cold_text_weight"]
    model.cold_word_weight = blend["cold_word_weight"]
    model.text_metric = load_text_metric(directory)
