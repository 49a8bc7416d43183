"""Every index kind answers like exact search: on enough clustered vectors for the IVF to have real
lists, recall@10 against exact inner-product search, vectors added after the first batch, and a
catalog too small for lists."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from semrec.online.index import KINDS, IndexKind, VectorIndex

DIM, N, QUERIES = 64, 12_000, 200


def clustered(rng: np.random.Generator, centres: np.ndarray, n: int) -> np.ndarray:
    """Vectors in broad, overlapping clusters, as item embeddings of a catalog's departments are (a
    query's neighbours spread over several IVF lists: too few probed lists miss them)."""
    picked = centres[rng.integers(0, len(centres), n)]
    return (picked + 1.5 * rng.normal(size=(n, DIM))).astype(np.float32)


@pytest.fixture(scope="module")
def vectors() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(30, DIM))
    return clustered(rng, centres, N), clustered(rng, centres, QUERIES)


def recall_at_10(got: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(got, truth, strict=True)]))


@pytest.mark.parametrize("kind", [k for k in KINDS if k != "exact"])
def test_approximate_kinds_recall_what_exact_search_finds(
    kind: IndexKind, vectors: tuple[np.ndarray, np.ndarray]
) -> None:
    items, queries = vectors
    exact = VectorIndex(DIM, "exact")
    exact.add(items)
    _, truth = exact.search(queries, 10)
    index = VectorIndex(DIM, kind)
    first = index.add(items[: N - 2000])  # the IVF lists are trained on this first batch
    later = index.add(items[N - 2000 :])
    assert first.tolist() == list(range(N - 2000)) and later.tolist() == list(range(N - 2000, N))
    if kind == "ivf-sq8":
        ivf: Any = index._index
        assert ivf.nlist > 100  # real lists: the answer is not one exhaustive scan
    scores, rows = index.search(queries, 10)
    assert rows.shape == (QUERIES, 10) and (rows >= 0).all()
    assert recall_at_10(rows, truth) >= 0.95
    assert (np.diff(scores, axis=1) <= 1e-6).all()  # best first
    # a vector added after training is its own best answer (8-bit codes: within their error)
    _, own = index.search(items[N - 50 :] * 10, 1)
    assert np.mean(own[:, 0] == np.arange(N - 50, N)) >= 0.9


@pytest.mark.parametrize("kind", KINDS)
def test_a_catalog_too_small_for_lists_is_searched_exactly(kind: IndexKind) -> None:
    rng = np.random.default_rng(1)
    items = rng.normal(size=(12, DIM)).astype(np.float32)
    queries = rng.normal(size=(5, DIM)).astype(np.float32)
    index = VectorIndex(DIM, kind)
    index.add(items)
    _, rows = index.search(queries, 20)  # more than the catalog holds: every item, once
    assert rows.shape == (5, 12)
    expected = np.argsort(-(queries @ items.T), axis=1, kind="stable")
    np.testing.assert_array_equal(np.sort(rows, axis=1), np.sort(expected, axis=1))
    np.testing.assert_array_equal(rows[:, :3], expected[:, :3])


def test_an_unknown_kind_is_refused_with_the_allowed_ones() -> None:
    with pytest.raises(ValueError, match="ivf-sq8"):
        kind: Any = "lsh"
        VectorIndex(DIM, kind)
