"""Batch lists from trained artifacts (a shop's e-mail campaign, a nightly export): each shopper's
top k by the model's own scores, which are the scores the server ranks its shortlist by (the blend
of :mod:`semrec.models.blend`), before the server's business rules and re-ranking for variety."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from semrec.artifacts import load_artifacts
from semrec.data.loader import load_dataset
from semrec.models.base import Recommender, top_k


@dataclass(frozen=True)
class BatchCounts:
    shoppers: int = 0
    known: int = 0  # shoppers with a history in the data
    history_items_unknown: int = 0  # history events naming items the artifacts were not trained with


def read_user_ids(path: Path) -> list[str]:
    """One shopper id per line (blank lines skipped); a clear error when the file is unusable."""
    if not path.is_file():
        raise ValueError(f"--users {path}: no such file (one shopper id per line)")
    users = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    users = [u for u in users if u]
    if not users:
        raise ValueError(f"--users {path}: the file holds no shopper ids (one per line)")
    return users


def batch_lists(
    artifacts: Path, data: Path, users: Sequence[str], k: int = 10, batch_size: int = 1024
) -> tuple[Iterator[dict[str, Any]], BatchCounts]:
    """Yields {"user_id", "items", "scores"} per shopper, in the order given. A shopper's history is
    every event the dataset at ``data`` holds for them (so newer events than the artifacts' count),
    in the artifacts' item order; items already in it are never recommended. A shopper the data
    does not know gets the model's answer for an empty history (the popularity order)."""
    if k < 1:
        raise ValueError(f"--k must be at least 1, got {k}")
    model, item_ids, _ = load_artifacts(artifacts)
    dataset = load_dataset(data)
    position = {item: i for i, item in enumerate(item_ids)}
    to_model = np.array([position.get(str(i), -1) for i in dataset.item_ids], dtype=np.int64)
    rows = {str(u): r for r, u in enumerate(dataset.user_ids)}
    histories, unknown_items = [], 0
    for user in users:
        row = rows.get(user)
        history = to_model[dataset.sequences[row]] if row is not None else np.zeros(0, dtype=np.int64)
        unknown_items += int((history < 0).sum())
        histories.append(history[history >= 0])
    counts = BatchCounts(len(users), sum(u in rows for u in users), unknown_items)
    names = np.asarray(item_ids, dtype=object)

    def lines() -> Iterator[dict[str, Any]]:
        for start in range(0, len(users), batch_size):
            chunk = histories[start : start + batch_size]
            ranked, scores = ranked_lists(model, chunk, k)
            for offset, best in enumerate(ranked):
                kept = best >= 0
                yield {
                    "user_id": users[start + offset],
                    "items": [str(i) for i in names[best[kept]]],
                    # null: beyond the candidates a ranking stage re-scored
                    "scores": [None if np.isnan(s) else round(float(s), 6) for s in scores[offset, kept]],
                }

    return lines(), counts


def ranked_lists(model: Recommender, histories: list[np.ndarray], k: int) -> tuple[np.ndarray, np.ndarray]:
    """(items, scores), each (shoppers, k), history excluded: the model's scores, or with a ranking
    stage its p(next item) (see SequentialRecommender.scored_lists)."""
    from semrec.models.sequential import SequentialRecommender

    if isinstance(model, SequentialRecommender):
        return model.scored_lists(histories, k, histories)
    scores = model.score(histories)
    ranked = top_k(scores, k, histories)  # history items set to -inf in place
    return ranked, np.take_along_axis(scores, np.maximum(ranked, 0), axis=1).astype(np.float64)
