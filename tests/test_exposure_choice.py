"""New products' weights judged at their exposure offset: the fast path (each group's best k) against
the same blend scored item by item at that offset (fit_cold_offset, blend_ndcg)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pytest

from semrec.data.splits import EvalCases
from semrec.evaluation.evaluator import blend_ndcg, fit_cold_offset
from semrec.evaluation.exposure_choice import exposure_blend_ndcg

Parts = Callable[[Sequence[np.ndarray]], dict[str, np.ndarray]]


def _world(shoppers: int = 300, items: int = 80) -> tuple[EvalCases, dict[str, np.ndarray], np.ndarray]:
    rng = np.random.default_rng(0)
    cold = np.zeros(items, dtype=bool)
    cold[rng.choice(items, 16, replace=False)] = True
    histories = [rng.choice(items, rng.integers(1, 6), replace=False) for _ in range(shoppers)]
    targets = [rng.choice(np.setdiff1d(np.arange(items), h), 1) for h in histories]
    parts = {name: rng.normal(size=(shoppers, items)) for name in ("network", "text", "words")}
    return EvalCases(np.arange(shoppers), histories, targets), parts, cold


def _reader(cases: EvalCases, parts: dict[str, np.ndarray]) -> Parts:
    """Part scores looked up by history (each case's history array is its key)."""
    row = {id(h): i for i, h in enumerate(cases.histories)}

    def read(histories: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
        rows = [row[id(h)] for h in histories]
        return {name: matrix[rows] for name, matrix in parts.items()}

    return read


@pytest.mark.parametrize("excluded", [False, True])
def test_each_new_product_weighting_scores_as_the_blend_at_its_offset(excluded: bool) -> None:
    cases, parts, cold = _world()
    exclude = (
        np.setdiff1d([3, 7, int(np.flatnonzero(cold)[0])], np.concatenate(cases.targets))
        if excluded
        else None
    )
    warm = {"network": 1.0, "text": 0.5, "words": 1.0}
    weightings = [
        warm,
        {"network": 1.0, "text": 2.0, "words": 0.0},
        {"network": 0.3, "text": 0.0, "words": 3.0},
    ]
    found = exposure_blend_ndcg(
        cases, _reader(cases, parts), warm, weightings, cold, exclude, min_targets=5, batch_size=64
    )
    assert found is not None
    assert found.cold_targets == sum(bool(cold[t].any()) for t in cases.targets)
    for b, weights in enumerate(weightings):
        # the same scores as one matrix, each item by its own group's weights
        mixed = np.where(
            cold[None, :], sum(weights[n] * parts[n] for n in parts), sum(warm[n] * parts[n] for n in parts)
        )
        fitted = fit_cold_offset(
            cases,
            _reader(cases, {"score": mixed}),
            {"score": 1.0},
            cold,
            exclude,
            min_targets=5,
            rule="exposure",
        )
        assert fitted is not None
        assert found.offsets[b] == pytest.approx(fitted[0], abs=1e-4)
        shifted = {"score": mixed, "cold": np.broadcast_to(cold.astype(np.float64), mixed.shape)}
        blend = [{"score": 1.0, "cold": fitted[0]}]
        expected = blend_ndcg(cases, _reader(cases, shifted), blend, exclude=exclude)[0]
        assert found.ndcg[b] == pytest.approx(expected, abs=1e-9)
    assert len(set(found.ndcg)) == len(weightings)  # the weightings differ, so the test tells them apart


def test_too_few_new_targets_choose_nothing() -> None:
    cases, parts, cold = _world()
    assert exposure_blend_ndcg(cases, _reader(cases, parts), {}, [{}], cold, min_targets=10_000) is None
