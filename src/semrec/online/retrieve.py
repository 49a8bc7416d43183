"""Retrieval: the rows an index proposes for a query, filtered by what an answer may hold."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from semrec.data.words import category_parts
from semrec.online.catalog import Catalog
from semrec.online.index import VectorIndex

EXACT_FALLBACK = 4096  # past this many candidates, filter the whole catalog exactly instead
Acceptor = Callable[[np.ndarray], np.ndarray]  # rows -> which of them an answer may hold


def candidates(
    index: VectorIndex,
    vectors: Callable[[np.ndarray], np.ndarray],
    query: np.ndarray,
    k: int,
    accept: Acceptor,
    excluded: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Up to ``k`` accepted (rows, scores), best first: ANN first, widened, then exact if needed.
    ``vectors(rows)`` gives the float vectors the index was built from (their exact scores)."""
    total = len(index)
    # HNSW costs grow with the list asked for: ask for what the filters are likely to leave
    fetch = min(total, k + excluded + 16)
    while fetch <= EXACT_FALLBACK:
        scores, rows = index.search(query, fetch)
        scores, rows = scores[0], rows[0]
        found = rows >= 0
        scores, rows = scores[found], rows[found]
        ok = accept(rows)
        if ok.sum() >= k or fetch >= total:
            # exact scores from the float vectors: compressed indexes only shortlist
            rows = rows[ok]
            exact = vectors(rows) @ query.astype(np.float32)
            order = np.argsort(-exact, kind="stable")[:k]
            return rows[order], exact[order]
        fetch = min(total, fetch * 8)
    rows = np.arange(total)
    rows = rows[accept(rows)]
    scores = vectors(rows) @ query.astype(np.float32)
    best = np.argsort(-scores, kind="stable")[:k]
    return rows[best], scores[best]


def acceptor(
    catalog: Catalog, exclude: set[int], category: str | None, need_vector: bool, verified: bool = False
) -> Acceptor:
    """Rows alive (the shop's blocklists included), not in ``exclude``, in ``category`` (when given),
    age-restricted only for a ``verified`` adult and, with ``need_vector``, recommendable (a vector
    of the model's own). Every answer's rows pass here."""
    excluded = np.fromiter(exclude, dtype=np.int64, count=len(exclude))
    wanted = category.strip().lower() if category else None

    def accept(rows: np.ndarray) -> np.ndarray:
        # the masks are read after the index answered: they already cover every row it knows
        ok = catalog.alive[rows]
        if len(excluded):  # a few dozen rows against a few dozen: one comparison table
            ok &= (rows[:, None] != excluded[None, :]).all(axis=1)
        if not verified:
            ok &= ~catalog.restricted[rows]
        if need_vector:
            ok &= catalog.recommendable[rows]
        if wanted is not None:
            for i in np.flatnonzero(ok):
                if wanted not in category_parts(catalog.meta[rows[i]].category):
                    ok[i] = False
        return ok

    return accept
