"""Re-ranking a shortlist: the shop's business rules (a bonus per row), then maximal marginal
relevance for variety."""

from __future__ import annotations

import numpy as np

from semrec.models.exposure import exposure_adjusted, unit_relevance
from semrec.online.catalog import Catalog


def rerank(
    catalog: Catalog,
    rows: np.ndarray,
    scores: np.ndarray,
    k: int,
    diversity: float,
    exposure_boost: float = 0.0,
    exposure: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(positions into ``rows`` best first, relevance of every row): business rules and the boost of
    under-exposed products (``exposure``: each row's on 0..1, :mod:`semrec.models.exposure`), then
    maximal marginal relevance over the pool (``diversity`` 0: by relevance alone)."""
    if len(rows) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    relevance = unit_relevance(scores) + catalog.bonus[rows]
    if exposure_boost > 0 and exposure is not None:
        relevance = exposure_adjusted(relevance, exposure, exposure_boost)
    if diversity <= 0 or len(rows) <= 1:
        return np.argsort(-relevance, kind="stable")[:k], relevance
    unit = catalog.unit_rec(rows)
    # value of each candidate = (1 - d) * relevance - d * (similarity to the closest item chosen)
    penalty = diversity * (unit @ unit.T)
    value = (1 - diversity) * relevance
    pick = int(value.argmax())
    chosen = [pick]
    value[pick] = -np.inf  # each candidate is chosen once
    closest = penalty[pick].copy()
    for _ in range(min(k, len(rows)) - 1):
        pick = int((value - closest).argmax())
        chosen.append(pick)
        value[pick] = -np.inf
        np.maximum(closest, penalty[pick], out=closest)
    return np.array(chosen), relevance
