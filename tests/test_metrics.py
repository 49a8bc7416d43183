"""Metrics on hand-made rankings whose values were worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from semrec.evaluation.metrics import hit_matrix, per_user_metrics


def test_single_target_metrics_by_hand() -> None:
    # depth 5; user 0 finds its target at rank 1, user 1 at rank 3, user 2 never
    ranked = np.array([[7, 1, 2, 3, 4], [1, 2, 7, 3, 4], [1, 2, 3, 4, 5]])
    targets = [np.array([7]), np.array([7]), np.array([7])]
    m = per_user_metrics(hit_matrix(ranked, targets), np.array([1, 1, 1]), ks=(1, 2, 5))
    assert m["hr@1"].tolist() == [1, 0, 0]
    assert m["hr@5"].tolist() == [1, 1, 0]
    assert m["ndcg@5"].tolist() == pytest.approx([1.0, 0.5, 0.0])  # 1/log2(3+1) = 0.5
    assert m["mrr@5"].tolist() == pytest.approx([1.0, 1 / 3, 0.0])
    assert m["mrr@2"].tolist() == pytest.approx([1.0, 0.0, 0.0])
    assert m["recall@5"].tolist() == [1, 1, 0]
    assert float(m["ndcg@5"].mean()) == pytest.approx(0.5)


def test_several_targets_use_ideal_dcg_and_recall() -> None:
    ranked = np.array([[9, 1, 8, 2]])
    m = per_user_metrics(hit_matrix(ranked, [np.array([1, 2, 5])]), np.array([3]), ks=(2, 4))
    idcg2 = 1 + 1 / math.log2(3)
    assert m["ndcg@2"][0] == pytest.approx((1 / math.log2(3)) / idcg2)
    idcg4 = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert m["ndcg@4"][0] == pytest.approx((1 / math.log2(3) + 1 / math.log2(5)) / idcg4)
    assert m["recall@4"][0] == pytest.approx(2 / 3)
    assert m["hr@2"][0] == 1 and m["mrr@4"][0] == pytest.approx(0.5)


def test_k_deeper_than_ranking_is_refused() -> None:
    with pytest.raises(ValueError, match="deeper"):
        per_user_metrics(np.zeros((1, 3), dtype=bool), np.array([1]), ks=(5,))
