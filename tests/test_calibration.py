"""New products' offset and weights, fitted by maximum likelihood on validation cases."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from semrec.data.splits import EvalCases
from semrec.evaluation.calibration import fit_cold
from semrec.models.blend import BlendWeights, blend

N_ITEMS = 40
COLD = np.arange(N_ITEMS) >= 30  # 10 items never seen in training


def offset_cases() -> EvalCases:
    # 30% of the targets are new; no target is in its own history
    rng = np.random.default_rng(0)
    targets = [np.array([30 + n % 10 if n % 10 < 3 else n % 25]) for n in range(200)]
    histories = [np.array([(int(t[0]) + 1 + int(rng.integers(0, 20))) % 25]) for t in targets]
    return EvalCases(np.arange(200), histories, targets)


def flat_parts(batch: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
    return {"network": np.zeros((len(batch), N_ITEMS)), "text": np.ones((len(batch), N_ITEMS))}


def test_with_equal_scores_the_offset_gives_new_items_the_share_of_targets_they_have() -> None:
    fitted = fit_cold(offset_cases(), flat_parts, {"text": 2.0}, COLD)
    assert fitted is not None and fitted.targets == 60
    assert fitted.weights == {}  # 60 targets: too few for weights of their own
    # a softmax over 29 warm candidates (one is in the history) and 10 new ones
    assert fitted.offset == pytest.approx(float(np.log(0.3 / 0.7 * 29 / 10)), abs=1e-3)
    assert fit_cold(offset_cases(), flat_parts, {}, COLD, min_targets=61) is None  # too few to fit
    # items the cases can never have as targets (the test's hidden ones) stay out of the softmax
    left_out = fit_cold(offset_cases(), flat_parts, {}, COLD, exclude=np.arange(25, 30))
    assert left_out is not None
    assert left_out.offset == pytest.approx(float(np.log(0.3 / 0.7 * 24 / 10)), abs=1e-3)


def test_new_items_weight_the_part_that_finds_them_more() -> None:
    # the text part points at the new target (+3 over noise), the network part is noise for new
    # items: the fit should lean on text and away from the network, and rank new targets higher
    rng = np.random.default_rng(1)
    n = 1000
    targets = [np.array([30 + i % 10 if i % 4 == 0 else i % 30]) for i in range(n)]
    histories = [np.array([(int(t[0]) + 1 + i % 20) % 30]) for i, t in enumerate(targets)]
    cases = EvalCases(np.arange(n), histories, targets)
    network = rng.normal(size=(n, N_ITEMS))
    text = rng.normal(size=(n, N_ITEMS))
    for i, t in enumerate(targets):
        if t[0] >= 30:
            text[i, t[0]] += 3.0
        else:
            network[i, t[0]] += 3.0

    cursor = [0]  # the fit reads the cases in order, in batches

    def parts(batch: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
        rows = slice(cursor[0], cursor[0] + len(batch))
        cursor[0] = (cursor[0] + len(batch)) % n
        return {"network": network[rows], "text": text[rows]}

    warm = {"text": 0.5}
    fitted = fit_cold(cases, parts, warm, COLD, min_weight_targets=100)
    assert fitted is not None and fitted.targets == 250
    assert fitted.weights["text"] > 2.0 > 0.5 > abs(fitted.weights["network"])
    offset_only = fit_cold(cases, parts, warm, COLD)
    assert offset_only is not None and offset_only.weights == {}

    def new_target_hits(weights: BlendWeights) -> int:
        scores = blend(network, weights, None, text, COLD)
        top = np.argsort(-scores, axis=1)[:, :3]
        return sum(int(t[0] in top[i]) for i, t in enumerate(targets) if t[0] >= 30)

    separate = BlendWeights(
        text=0.5,
        cold=fitted.offset,
        cold_network=fitted.weights["network"],
        cold_text=fitted.weights["text"],
    )
    assert new_target_hits(separate) > new_target_hits(BlendWeights(text=0.5, cold=offset_only.offset))


def test_a_blend_with_new_items_weights_of_their_own_changes_only_their_scores() -> None:
    rng = np.random.default_rng(2)
    network, prior, text = (rng.normal(size=(3, N_ITEMS)).astype(np.float32) for _ in range(3))
    same = BlendWeights(prior=0.5, text=2.0, cold=0.3)
    separate = BlendWeights(prior=0.5, text=2.0, cold=0.3, cold_network=0.7, cold_prior=0.1, cold_text=5.0)
    plain, other = blend(network, same, prior, text, COLD), blend(network, separate, prior, text, COLD)
    np.testing.assert_array_equal(plain[:, ~COLD], other[:, ~COLD])
    np.testing.assert_allclose(
        plain[:, ~COLD], network[:, ~COLD] + 0.5 * prior[:, ~COLD] + 2 * text[:, ~COLD], rtol=1e-6
    )
    np.testing.assert_allclose(
        plain[:, COLD], network[:, COLD] + 0.5 * prior[:, COLD] + 2 * text[:, COLD] + 0.3, rtol=1e-5
    )
    expected = 0.7 * network[:, COLD] + 0.1 * prior[:, COLD] + 5.0 * text[:, COLD] + 0.3
    np.testing.assert_allclose(other[:, COLD], expected, rtol=1e-5)
    assert not same.separate_cold or same.for_cold == (1.0, 0.5, 2.0)
