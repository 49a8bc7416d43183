"""The learned metric of the text-affinity term (semrec.models.text_metric)."""

from __future__ import annotations

import numpy as np

from semrec.models.blend import text_affinity
from semrec.models.text_metric import MetricSettings, fit_text_metric, training_pairs


def catalog() -> np.ndarray:
    """Unit text vectors of 12 items in two kinds: items 0-5 lean on dimension 0 ('shampoo'),
    items 6-11 on dimension 1 ('conditioner'); each also has a small direction of its own."""
    rng = np.random.default_rng(0)
    vectors = 0.3 * rng.normal(size=(12, 8)).astype(np.float32)
    vectors[:6, 0] += 1.0
    vectors[6:, 1] += 1.0
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_training_pairs_are_every_prefix_and_its_next_item() -> None:
    histories, targets = training_pairs([np.array([3, 1, 4, 1]), np.array([5])], history=2)
    assert [h.tolist() for h in histories] == [[3], [3, 1], [1, 4]]
    assert targets.tolist() == [1, 4, 1]


def test_no_pairs_or_no_epochs_leave_the_cosine() -> None:
    unit = catalog()
    assert np.array_equal(fit_text_metric([np.array([2])], unit, 0.3), np.eye(8, dtype=np.float32))
    pairs = [np.array([0, 6])]
    assert np.array_equal(fit_text_metric(pairs, unit, 0.3, MetricSettings(epochs=0)), np.eye(8))


def test_the_metric_learns_which_kind_follows_and_carries_it_to_a_new_product() -> None:
    unit = catalog()
    # shoppers always move from a shampoo to a conditioner; conditioner 11 never occurs in training
    rng = np.random.default_rng(1)
    sequences = [np.array([rng.integers(0, 6), rng.integers(6, 11)]) for _ in range(400)]
    history = [np.array([2])]
    cosine = text_affinity(history, unit, 0.3)[0]
    assert cosine[:6].min() > cosine[6:].max()  # the cosine ranks every shampoo first
    metric = fit_text_metric(sequences, unit, 0.3, MetricSettings(epochs=20, penalty=1e-4, lr=5e-2))
    learned = text_affinity(history, unit, 0.3, metric)[0]
    order = np.argsort(-learned)
    assert set(order[:6].tolist()) == set(range(6, 12))  # conditioners first, the new one included
    assert learned[11] > np.delete(learned, np.arange(6, 12)).max()


def test_affinity_through_the_metric_is_the_profile_times_the_metric_times_the_text() -> None:
    unit = catalog()
    metric = np.eye(8, dtype=np.float32) + 0.1 * np.arange(64, dtype=np.float32).reshape(8, 8) / 64
    got = text_affinity([np.array([1, 4])], unit, 0.5, metric)[0]
    profile = 0.5 * unit[1] + unit[4]
    expected = (profile / np.linalg.norm(profile)) @ metric @ unit.T
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
