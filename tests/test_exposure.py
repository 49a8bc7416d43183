"""Fair exposure: the Gini of the lists, the boost of under-exposed products, one formula offline
and in the server."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from fastapi.testclient import TestClient

from semrec.api.app import create_app
from semrec.evaluation.evaluator import popularity_groups
from semrec.evaluation.exposure import exposure_report, gini
from semrec.models.exposure import (
    ExposureLedger,
    ExposureReranked,
    exposure_adjusted,
    popularity_scale,
    unit_relevance,
)
from semrec.settings import ServerSettings
from tests.test_serving_api import KEYS, READER, WRITER


def test_gini_reads_concentration() -> None:
    assert gini(np.ones(5)) == 0.0
    assert gini(np.array([0, 0, 0, 0, 10.0])) == 0.8  # one of five holds everything: (n - 1) / n
    assert 0 < gini(np.array([1, 2, 3, 4.0])) < gini(np.array([0, 1, 2, 7.0]))
    assert gini(np.zeros(3)) == 0.0


def test_exposure_report_splits_slots_by_band_and_brand() -> None:
    counts = np.array([50, 40, 30, 20, 10, 5, 3, 2, 1, 0])
    groups = popularity_groups(counts)
    ranked = np.array([[0, 1], [0, 9], [0, -1]])
    report = exposure_report(ranked, groups, np.array(["a"] * 5 + ["b"] * 5), k=2)
    assert report["exposure_share@2"]["head"] == 0.8 and report["exposure_share@2"]["unseen"] == 0.2
    assert report["top_brands@2"] == {"a": 0.8, "b": 0.2}
    assert report["gini@2"] == round(gini(np.array([3, 1, 0, 0, 0, 0, 0, 0, 0, 1.0])), 6)


class Fixed:
    """A model whose scores are the same for every shopper."""

    def __init__(self, scores: list[float]) -> None:
        self.scores = np.array(scores, dtype=np.float32)

    def score(self, histories: list[np.ndarray]) -> np.ndarray:
        return np.tile(self.scores, (len(histories), 1))


def test_the_popularity_baseline_lifts_the_less_popular() -> None:
    counts = np.array([1000, 500, 3, 1, 0], dtype=np.float64)
    model = Fixed([1.0, 0.95, 0.9, 0.5, 0.1])
    empty = [np.array([], dtype=np.int64)]
    plain = ExposureReranked(model, counts, 0.0, depth=5, signal="popularity").recommend(empty, 5)
    assert plain.tolist() == [[0, 1, 2, 3, 4]]
    boosted = ExposureReranked(model, counts, 0.3, depth=5, signal="popularity").recommend(empty, 5)
    assert boosted[0, 0] == 2  # nearly as relevant, far less popular


def test_what_lists_have_shown_steps_back_for_the_rest() -> None:
    """Forty shoppers with the same taste: without the boost every list is the same three
    products; with it, later lists give their slots to products nearly as relevant."""
    counts = np.full(8, 10.0)
    model = Fixed([1.0, 0.97, 0.95, 0.93, 0.9, 0.88, 0.5, 0.1])
    histories = [np.array([], dtype=np.int64)] * 40
    plain = ExposureReranked(model, counts, 0.0, depth=8, batch=1).recommend(histories, 3)
    assert {tuple(row) for row in plain.tolist()} == {(0, 1, 2)}
    boosted = ExposureReranked(model, counts, 0.3, depth=8, batch=1).recommend(histories, 3)
    assert boosted[0].tolist() == [0, 1, 2]  # the first list: nothing shown yet
    assert len(set(boosted.ravel())) > 3 and 7 not in boosted  # spread, but never the irrelevant
    assert gini(np.bincount(boosted.ravel(), minlength=8)) < gini(np.bincount(plain.ravel(), minlength=8))
    excluded = ExposureReranked(model, counts, 0.3, depth=8).recommend(
        [np.array([2])], 3, [np.array([2], dtype=np.int64)]
    )
    assert 2 not in excluded[0]


def test_the_ledger_counts_slots_and_fades() -> None:
    ledger = ExposureLedger(4, half_life=2)
    ledger.record(np.array([0, 1, -1]))
    assert ledger.shown.tolist() == [1, 1, 0, 0] and ledger.scale(np.array([0, 2])).tolist() == [1.0, 0.0]
    ledger.record(np.array([0, 5]))  # a product added since the ledger began
    assert ledger.shown.tolist() == [1.0, 0.5, 0, 0, 0, 0.5]  # two lists: halved
    assert ledger.scale(np.array([9])).tolist() == [0.0]


def test_the_batch_rerank_is_the_one_list_formula() -> None:
    rng = np.random.default_rng(0)
    counts = rng.integers(0, 500, 40).astype(np.float64)
    reranker = ExposureReranked(Fixed([0.0] * 40), counts, 0.2, depth=40, signal="popularity")
    items = np.array([rng.permutation(40)[:30] for _ in range(6)])
    scores = rng.normal(size=items.shape)
    scores[0, 5:] = np.nan  # an unscored tail counts as the worst
    batch = reranker.rerank(items, scores, 10)
    for row in range(len(items)):
        adjusted = exposure_adjusted(unit_relevance(scores[row]), popularity_scale(counts)[items[row]], 0.2)
        assert batch[row].tolist() == items[row][np.argsort(-adjusted, kind="stable")[:10]].tolist()


def test_the_server_spreads_what_its_lists_show(shop_artifacts: dict[str, Path], tmp_path: Path) -> None:
    """Shoppers of one taste asking in turn: with exposure_boost the server's lists show more
    different products than without, as offline."""

    def shown(boost: float) -> list[list[str]]:
        settings = ServerSettings(
            artifacts=shop_artifacts["lmrec"],
            database=tmp_path / f"x{boost}.db",
            api_keys=KEYS,
            exposure_boost=boost,
            diversity=0.0,
        )
        client = TestClient(create_app(settings))
        lists = []
        for n in range(12):
            events = [{"user_id": f"s{n}", "item_id": i, "type": "view"} for i in ("lip-1", "eye-1")]
            assert client.post("/v1/events", json={"events": events}, headers=WRITER).status_code == 200
            answer = client.get(f"/v1/users/s{n}/recommendations?k=3", headers=READER)
            assert answer.status_code == 200, answer.text
            lists.append([item["item_id"] for item in answer.json()["items"]])
        return lists

    plain, boosted = shown(0.0), shown(1.0)
    assert boosted[0] == plain[0]  # nothing shown yet: the same first list
    assert len({i for row in boosted for i in row}) > len({i for row in plain for i in row})
