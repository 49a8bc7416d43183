"""The evaluator on hand-made data: a model with fixed scores, metrics worked out by hand."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Self

import numpy as np
import pandas as pd
import pytest

from semrec.data.splits import EvalCases
from semrec.evaluation.evaluator import evaluate, popularity_groups
from semrec.models.base import Recommender, TrainingData


class FixedScores(Recommender):
    """Every shopper gets the same scores: item i scores ``scores[i]``."""

    name = "fixed"

    def __init__(self, scores: list[float]) -> None:
        super().__init__()
        self.scores = np.array(scores, dtype=np.float32)

    def fit(self, data: TrainingData) -> Self:
        return self

    def score(self, histories: Sequence[np.ndarray]) -> np.ndarray:
        return np.tile(self.scores, (len(histories), 1))


def _cases(histories: list[list[int]], targets: list[int]) -> EvalCases:
    return EvalCases(
        users=np.arange(len(targets)),
        histories=[np.array(h, dtype=np.int64) for h in histories],
        targets=[np.array([t]) for t in targets],
    )


def test_history_is_masked_and_metrics_match_hand_computation() -> None:
    # 60 items; item i scores 60 - i, so the unmasked order is 0, 1, 2, ...
    model = FixedScores([60.0 - i for i in range(60)])
    cases = _cases(
        histories=[[0, 1], [5], [2, 3]],
        targets=[2, 4, 59],
    )
    # user 0: history 0,1 masked -> ranking 2,3,4... -> target 2 at rank 1
    # user 1: history 5 masked -> 0,1,2,3,4 -> target 4 at rank 5
    # user 2: target 59 is ranked 56th (after removing 2 history items) -> beyond 50 -> miss
    counts = np.zeros(60)
    result = evaluate(model, cases, counts, batch_size=2)
    assert result.ranked[0, :3].tolist() == [2, 3, 4]
    assert 5 not in result.ranked[1].tolist()
    m = result.metrics
    assert m["hr@5"] == pytest.approx(2 / 3)
    assert m["ndcg@5"] == pytest.approx((1 + 1 / np.log2(6)) / 3)
    assert m["mrr@10"] == pytest.approx((1 + 1 / 5) / 3)
    assert m["hr@50"] == pytest.approx(2 / 3)
    # top 10 of the three lists cover items 0..13 except masked ones: 2..11, 0..4+6..10, 0,1,4..11
    assert m["coverage@10"] == pytest.approx(12 / 60)


def test_segments_by_history_length_and_target_popularity() -> None:
    model = FixedScores([10.0 - i for i in range(60)])
    counts = np.zeros(60)
    counts[:10] = np.arange(10, 0, -1)  # 10 seen items: head = items 0,1; torso = 2,3,4; tail = 5..9
    groups = popularity_groups(counts)
    assert groups[:10].tolist() == ["head"] * 2 + ["torso"] * 3 + ["tail"] * 5
    assert groups[10] == "unseen"
    cases = _cases(histories=[[9], [9, 8, 7, 6, 5], [30]], targets=[0, 3, 40])
    result = evaluate(model, cases, counts)
    assert result.segments["history_length"]["1-2"] == {
        "users": 2,
        "hr@10": 0.5,
        "ndcg@10": 0.5,
        "mrr@10": 0.5,
    }
    assert result.segments["history_length"]["5-9"]["users"] == 1
    pop = result.segments["target_popularity"]
    assert pop["head"]["hr@10"] == 1.0 and pop["torso"]["hr@10"] == 1.0 and pop["unseen"]["hr@10"] == 0.0
    assert "tail" not in pop
    # every top-10 list holds the two head items: share outside the head is 8/10
    assert result.metrics["long_tail_share@10"] == pytest.approx(0.8)


def test_batched_equals_one_batch() -> None:
    rng = np.random.default_rng(3)
    model = FixedScores(rng.random(80).tolist())
    histories = [rng.choice(80, size=int(rng.integers(1, 6)), replace=False).tolist() for _ in range(37)]
    cases = _cases(histories, rng.integers(0, 80, size=37).tolist())
    a = evaluate(model, cases, np.ones(80), batch_size=5)
    b = evaluate(model, cases, np.ones(80), batch_size=1000)
    assert (a.ranked == b.ranked).all() and a.metrics == b.metrics


class PartSums(Recommender):
    """Scores are a weighted sum of fixed per-shopper parts, as a blended model's are."""

    name = "parts"

    def __init__(self, parts: dict[str, np.ndarray], weights: dict[str, float]) -> None:
        super().__init__()
        self.parts, self.weights = parts, weights

    def fit(self, data: TrainingData) -> Self:
        return self

    def parts_for(self, histories: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
        rows = [int(h[0]) for h in histories]  # each shopper's first history item names their row
        return {name: matrix[rows].copy() for name, matrix in self.parts.items()}

    def score(self, histories: Sequence[np.ndarray]) -> np.ndarray:
        parts = self.parts_for(histories)
        return sum(self.weights.get(name, 1.0) * matrix for name, matrix in parts.items())  # type: ignore[return-value]


def test_blend_ndcg_equals_evaluate_for_every_blend_ties_and_several_targets_included() -> None:
    from semrec.evaluation.evaluator import blend_ndcg

    rng = np.random.default_rng(3)
    n_users, n_items = 60, 80
    # coarse integer scores: many ties, which must break by item index as in top_k
    parts = {
        "network": rng.integers(0, 4, (n_users, n_items)).astype(np.float32),
        "prior": rng.integers(0, 3, (n_users, n_items)).astype(np.float32),
    }
    others = np.arange(n_users, n_items)
    histories = [np.array([u, *rng.choice(others, 3, replace=False)]) for u in range(n_users)]
    targets = [
        rng.choice(np.setdiff1d(np.arange(n_items), h), 1 + (u % 3 == 0), replace=False)
        for u, h in enumerate(histories)
    ]
    cases = EvalCases(users=np.arange(n_users), histories=histories, targets=targets)
    blends = [{"prior": 0.0}, {"prior": 1.0}, {"prior": 2.5, "network": 0.5}]
    reference = PartSums(parts, {})
    fast = blend_ndcg(cases, reference.parts_for, blends, batch_size=16)
    counts = np.ones(n_items)
    for blend, value in zip(blends, fast, strict=True):
        expected = evaluate(PartSums(parts, blend), cases, counts, progress=False).metrics["ndcg@10"]
        assert value == pytest.approx(expected, abs=1e-12)
    assert len(set(fast)) == 3  # the blends really differ


def test_blend_ndcg_leaves_excluded_items_out_of_every_list() -> None:
    from semrec.evaluation.evaluator import blend_ndcg

    rng = np.random.default_rng(5)
    n_users, n_items = 40, 50
    parts = {"network": rng.normal(size=(n_users, n_items)).astype(np.float32)}
    hidden = np.arange(n_users, n_users + 5)  # the best-scored items for everyone, never a target
    parts["network"][:, hidden] += 10.0
    histories = [np.array([u]) for u in range(n_users)]
    free = np.setdiff1d(np.arange(n_users, n_items), hidden)
    targets = [rng.choice(free, 1) for _ in range(n_users)]
    cases = EvalCases(users=np.arange(n_users), histories=histories, targets=targets)
    reference = PartSums(parts, {})
    found = blend_ndcg(cases, reference.parts_for, [{}], exclude=hidden)[0]
    lowered = {"network": parts["network"].copy()}
    lowered["network"][:, hidden] = -np.inf  # as if the catalog did not hold them
    expected = evaluate(PartSums(lowered, {}), cases, np.ones(n_items), progress=False).metrics["ndcg@10"]
    assert found == pytest.approx(expected, abs=1e-12)
    assert found > blend_ndcg(cases, reference.parts_for, [{}])[0]  # they did take the top slots


def test_the_cold_offset_is_the_maximum_likelihood_one() -> None:
    from semrec.evaluation.evaluator import fit_cold_offset

    # 40 items, 10 of them never seen in training; every item scores the same, and 30% of the
    # targets are new: the likelihood peaks where the new items' share of probability is 30%
    n_items, cold = 40, np.zeros(40, dtype=bool)
    cold[30:] = True
    rng = np.random.default_rng(0)
    targets = [np.array([30 + n % 10 if n % 10 < 3 else n % 25]) for n in range(200)]
    histories = [np.array([(int(t[0]) + 1 + int(rng.integers(0, 20))) % 25]) for t in targets]
    cases = EvalCases(np.arange(200), histories, targets)

    def parts(batch: Any) -> dict[str, np.ndarray]:
        return {"network": np.zeros((len(batch), n_items)), "text": np.ones((len(batch), n_items))}

    fitted = fit_cold_offset(cases, parts, {"text": 2.0}, cold)
    assert fitted is not None and fitted[1] == 60
    # a softmax over 29 warm candidates (one is in the history) and 10 new ones
    expected = float(np.log(0.3 / 0.7 * 29 / 10))
    assert fitted[0] == pytest.approx(expected, abs=1e-3)
    assert fit_cold_offset(cases, parts, {}, cold, min_targets=61) is None  # too few to fit
    # items the cases can never have as targets (the test's hidden ones) stay out of the softmax
    left_out = fit_cold_offset(cases, parts, {}, cold, exclude=np.arange(25, 30))
    assert left_out is not None and left_out[0] == pytest.approx(float(np.log(0.3 / 0.7 * 24 / 10)), abs=1e-3)


def test_the_exposure_offset_gives_new_items_their_share_of_the_top_slots() -> None:
    from semrec.evaluation.evaluator import fit_cold_offset
    from semrec.models.base import top_k

    # 60 items, 15 of them new and scored lower; 20% of the targets are new: at the fitted offset
    # new items fill 20% of the top-10 slots, averaged over the cases (history and excluded items
    # never count), and a little less offset gives them fewer slots
    n_items, n_cases = 60, 300
    cold = np.zeros(n_items, dtype=bool)
    cold[45:] = True
    rng = np.random.default_rng(1)
    base = rng.normal(size=(n_cases, n_items)) - 2.0 * cold
    targets = [np.array([45 + n % 5 if n % 5 == 0 else n % 40]) for n in range(n_cases)]
    histories = [rng.choice(60, size=int(rng.integers(1, 6)), replace=False) for _ in range(n_cases)]
    cases = EvalCases(np.arange(n_cases), histories, targets)
    exclude = np.array([40, 41, 58])

    def parts(batch: Any) -> dict[str, np.ndarray]:
        return {"network": base[[int(np.flatnonzero([h is b for h in histories])[0]) for b in batch]]}

    def share_at(offset: float) -> float:
        scores = base + offset * cold
        for row, history in enumerate(histories):
            scores[row, history] = -np.inf
        scores[:, exclude] = -np.inf
        top = top_k(scores, 10)
        return float(cold[top].mean())

    fitted = fit_cold_offset(cases, parts, {}, cold, exclude=exclude, rule="exposure")
    assert fitted is not None and fitted[1] == 60
    assert share_at(fitted[0]) == pytest.approx(0.2, abs=1 / (10 * n_cases))
    assert share_at(fitted[0] - 0.2) < 0.19
    # the likelihood rule answers differently on the same cases
    likelihood = fit_cold_offset(cases, parts, {}, cold, exclude=exclude)
    assert likelihood is not None and abs(likelihood[0] - fitted[0]) > 0.05
    allowed = "unknown cold calibration rule 'equal'; allowed: likelihood, exposure"
    with pytest.raises(ValueError, match=allowed):
        fit_cold_offset(cases, parts, {}, cold, rule="equal")


def test_training_fits_the_cold_offset_by_the_rule_its_settings_name() -> None:
    from types import SimpleNamespace

    from semrec.models.blend import BlendWeights
    from semrec.training.new_products import calibrate_cold

    asked: list[str] = []

    def score_parts(histories: Any) -> dict[str, np.ndarray]:
        shape = (len(histories), 2)
        return {"network": np.ones(shape), "prior": np.full(shape, 2.0), "text": np.full(shape, 0.5)}

    def calibrator(parts: Any, blend: Any, cold: np.ndarray, rule: str) -> tuple[float, int]:
        asked.append(rule)
        assert blend == {"blend": 1.0} and cold.tolist() == [False, True]
        # fitted on the blend as scored, new products with their own weights, before any offset
        warm, new = 1 + 0.3 * 2 + 3.0 * 0.5, 1 + 1.0 * 2 + 10.0 * 0.5
        np.testing.assert_allclose(parts([np.array([0])])["blend"], [[warm, new]])
        return (1.25, 70)

    data = TrainingData(sequences=[], items=pd.DataFrame(), cold_calibrator=calibrator)
    for rule in ("exposure", "likelihood"):
        model = SimpleNamespace(
            config=SimpleNamespace(calibrate_cold=True, cold_rule=rule),
            counts=np.array([3, 0]),
            weights=BlendWeights(prior=0.3, text=3.0, cold=0.7, cold_prior=1.0, cold_text=10.0),
            score_parts=score_parts,
            cold_offset=0.7,
        )
        calibrate_cold(model, data)  # type: ignore[arg-type]
        assert model.cold_offset == 1.25
        assert model.cold_calibration == {"offset": 1.25, "validation_targets": 70, "rule": rule}
    assert asked == ["exposure", "likelihood"]


def test_new_item_blend_ndcg_ranks_only_new_products_for_the_shoppers_who_chose_one() -> None:
    from semrec.evaluation.evaluator import blend_ndcg, new_item_blend_ndcg

    rng = np.random.default_rng(5)
    n_users, n_items = 60, 80
    parts = {"network": rng.normal(size=(n_users, n_items)), "text": rng.normal(size=(n_users, n_items))}
    parts["network"][:, :60] += 100.0  # trained items outscore every new one in the whole catalog
    cold = np.arange(n_items) >= 60
    exclude = np.array([78, 79])  # new, but never a candidate (the test's hidden products)
    # PartSums reads each shopper's row from their first history item
    histories = [np.array([u, 60 + u % 10]) for u in range(n_users)]
    targets = [np.array([(u + 1) % 60 if u % 4 == 0 else 70 + u % 8]) for u in range(n_users)]
    targets[1] = np.array([78])  # an excluded target: not a case
    cases = EvalCases(users=np.arange(n_users), histories=histories, targets=targets)
    reference = PartSums(parts, {})
    blends = [{"text": 0.0}, {"text": 1.0}, {"text": 4.0}]
    found = new_item_blend_ndcg(cases, reference.parts_for, blends, cold, exclude=exclude, min_targets=44)
    assert found is not None
    ndcgs, count = found
    rows = [u for u in range(n_users) if u % 4 != 0 and u != 1]
    assert count == len(rows)
    # by hand: the same blends with every other item out of the running, over those shoppers only
    candidates = cold & ~np.isin(np.arange(n_items), exclude)
    only_new = {name: np.where(candidates, m, -np.inf) for name, m in parts.items()}
    chosen = EvalCases(np.array(rows), [histories[r] for r in rows], [targets[r] for r in rows])
    expected = blend_ndcg(chosen, PartSums(only_new, {}).parts_for, blends)
    assert ndcgs == pytest.approx(expected, abs=1e-9)
    assert len(set(ndcgs)) == 3 and min(ndcgs) > 0
    # in the whole catalog the same shoppers' new targets never reach a top 10
    assert blend_ndcg(chosen, reference.parts_for, blends) == [0.0, 0.0, 0.0]
    too_few = new_item_blend_ndcg(cases, reference.parts_for, blends, cold, exclude=exclude, min_targets=45)
    assert too_few is None
