from __future__ import annotations

import numpy as np

from semrec.models import top_k


def test_top_k_orders_and_excludes() -> None:
    scores = np.array([[0.1, 0.9, 0.5, 0.7], [1.0, 0.2, 0.3, 0.4]], dtype=np.float32)
    assert top_k(scores.copy(), 2).tolist() == [[1, 3], [0, 3]]
    assert top_k(scores.copy(), 2, exclude=[np.array([1]), np.array([], dtype=np.int64)]).tolist() == [
        [3, 2],
        [0, 3],
    ]


def test_ties_break_by_lower_index_even_across_the_cut() -> None:
    scores = np.array([[1, 5, 5, 5, 5, 0]], dtype=np.float32)
    assert top_k(scores.copy(), 2).tolist() == [[1, 2]]
    assert top_k(scores.copy(), 6).tolist() == [[1, 2, 3, 4, 0, 5]]


def test_top_k_matches_full_sort_on_random_scores() -> None:
    rng = np.random.default_rng(1)
    scores = rng.integers(0, 20, size=(50, 300)).astype(np.float32)  # many ties
    expected = np.lexsort((np.broadcast_to(np.arange(300), scores.shape), -scores), axis=-1)[:, :25]
    assert (top_k(scores.copy(), 25) == expected).all()
