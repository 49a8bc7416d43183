"""The ranking stage over the server's shortlist: the features the offline ranker reads
(:func:`semrec.models.ranker.features`), assembled from one shopper's blended candidates, and the
order the stage gives them."""

from __future__ import annotations

from typing import Any

import numpy as np

from semrec.models.ranker import Ranker, pair_term
from semrec.models.ranker import features as ranker_features


def rank_shortlist(
    ranker: Ranker,
    counts: np.ndarray,
    prior: Any,
    history: np.ndarray,
    candidates: np.ndarray,
    parts: dict[str, np.ndarray],
    blended: np.ndarray,
    text_vectors: np.ndarray,
    recent_text: np.ndarray,
    word_cosines: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(order, scores): the stage's order of ``candidates`` (training-catalog indices, -1 for items
    added later) given in retrieval order with their ``parts`` (``ModelRuntime.score_parts``),
    ``blended`` scores and unit ``text_vectors``; ``counts``: training events per trained item;
    ``prior``: the model's co-occurrence (or None); ``recent_text``: the shopper's last <= 10 items'
    unit text vectors, most recent first, and ``word_cosines`` (candidates, those items) of their
    title words, when the blend reads words. The first ``n_candidates`` get the ranker's
    :meth:`~semrec.models.ranker.Ranker.order_scores`; the rest follow in retrieval order, scored
    below every one of them."""
    n = min(ranker.n_candidates, len(candidates))
    head = candidates[:n]
    new = parts["new"][:n]
    pair = None
    if prior is not None:
        raw = prior.score_items(history[-1:], head)  # 0 for items added later
        raw[new] = 0.0  # no co-occurrence of their own: as offline
        pair = pair_term(raw)[None]

    def first(name: str) -> np.ndarray | None:
        part = parts.get(name)
        return part[None, :n] if part is not None else None

    features = ranker_features(
        blended[None, :n],
        parts["network"][None, :n],
        first("prior"),
        first("text"),
        new[None],
        np.where(head >= 0, counts[np.maximum(head, 0)], 0.0)[None],
        [text_vectors[:n] @ recent_text.T],
        pair,
        np.array([len(history)]),
        first("words"),
        [word_cosines[:n]] if word_cosines is not None else (),
    )
    p = ranker.order_scores(features)[0]
    best = np.argsort(-p, kind="stable")
    tail = float(p.min()) - 1.0 - np.arange(len(candidates) - n) * 1e-6
    return np.concatenate([best, np.arange(n, len(candidates))]), np.concatenate([p[best], tail])
