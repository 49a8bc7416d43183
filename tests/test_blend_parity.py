"""One scoring path: the server scores a shortlist exactly as `evaluate` scores the whole catalog, for
items seen in training, items of the training catalog nobody bought, and products added since; and
its ranking stage gives each candidate the probability the offline ranker gives it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from semrec.api.app import create_app
from semrec.artifacts import load_artifacts
from semrec.evaluation.runner import RunSpec, run_training
from semrec.settings import ServerSettings
from tests.conftest import synthetic_ranker, write_dataset
from tests.shop_fixture import SHOP_EVENTS, SHOP_ITEMS

# two products no training sequence holds: they borrow their ID part and co-occurrence from donors
UNSEEN = [
    ("nail-3", "Glitter Top Coat Nail Polish", "Pura", "Nails", "7.0"),
    ("skin-3", "Vitamin C Brightening Face Serum", "Lumi", "Skin > Serums", "25.0"),
]
# added over HTTP after training, with exactly nail-3's fields: offline, nail-3 is its score
TWIN = {"title": "Glitter Top Coat Nail Polish", "brand": "Pura", "category": "Nails", "price": 7.0}
WRITER = {"X-API-Key": "w-secret"}
PARAMS = {
    "epochs": "40",
    "dim": "16",
    "eval_every": "1000",
    "dropout": "0.0",
    "lr": "0.005",
    "batch_size": "8",
    "cooccurrence_weight": "1.0",  # fixed, so every part of the blend counts
    "text_weight": "3.0",
    "word_weight": "2.0",
    "word_decay": "0.7",  # not text_decay's 0.3: the server must read the term's own
    "word_lead": "1",
    "cold_neighbours": "3",
    "cold_offset": "0.7",  # new products' offset, fixed (this validation holds too few to fit it)
    "calibrate_cold": "false",
    "ranker": "0",  # the blend alone: the ranking stage has a parity test of its own
}


@pytest.fixture(scope="module")
def parity_artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("parity")
    header = ("item_id", "title", "brand", "categories", "price")
    data = write_dataset(root / "data", [*SHOP_ITEMS, *UNSEEN], SHOP_EVENTS, item_header=header)
    run_training(RunSpec(data=data, model="lmrec", params=PARAMS), root / "lmrec")
    return root / "lmrec"


def served_shortlist(client: TestClient, user_id: str, k: int) -> dict[str, float]:
    """item id -> the score the server ranks by, before the list's re-ranking for variety."""
    engine: Any = client.app.state.follower.engine  # type: ignore[attr-defined]
    catalog = engine.catalog
    rows = [catalog.live_row(e.item_id) for e in engine.history(user_id)]
    candidates, scores = engine.shortlist(engine.user_key(user_id), k, None, set(rows), rows)
    return {catalog.meta[r].item_id: float(s) for r, s in zip(candidates.tolist(), scores, strict=True)}


HISTORIES = {"ann": ["lip-1", "skin-3", "nail-1"], "bob": ["lip-2", "nail-new", "lip-1"]}


def serve_with_twin(artifacts: Path, tmp_path: Path, replace_original: bool = False) -> TestClient:
    """The app over ``artifacts`` with TWIN PUT (and, with ``replace_original``, nail-3 deleted, so
    that both sides rank the same catalog) and HISTORIES posted as views."""
    settings = ServerSettings(
        artifacts=artifacts,
        database=tmp_path / "shop.db",
        api_keys=[{"name": "writer", "key": "w-secret", "scopes": ["read", "write"]}],
        diversity=0.0,
        shopper_tower="torch",
    )
    client = TestClient(create_app(settings), raise_server_exceptions=False)
    assert client.put("/v1/items/nail-new", json=TWIN, headers=WRITER).status_code == 200
    if replace_original:
        assert client.delete("/v1/items/nail-3", headers=WRITER).status_code == 200
    for user, items in HISTORIES.items():
        events = [{"user_id": user, "item_id": item, "type": "view"} for item in items]
        assert client.post("/v1/events", json={"events": events}, headers=WRITER).status_code == 200
    return client


def test_served_scores_equal_offline_scores_on_a_shortlist_with_new_items(
    parity_artifacts: Path, tmp_path: Path
) -> None:
    assert_parity(parity_artifacts, tmp_path)


def test_served_scores_equal_offline_scores_through_a_learned_text_metric(
    parity_artifacts: Path, tmp_path: Path
) -> None:
    # the artifacts with a text metric far from the identity, as `text_metric_epochs` would save one
    artifacts = tmp_path / "metric"
    shutil.copytree(parity_artifacts, artifacts)
    dim = np.load(artifacts / "text_vectors.npy").shape[1]
    metric = np.eye(dim, dtype=np.float32) + np.random.default_rng(0).normal(0, 0.2, (dim, dim))
    np.save(artifacts / "text_metric.npy", metric.astype(np.float32))
    model, item_ids, _ = load_artifacts(artifacts)
    plain, _, _ = load_artifacts(parity_artifacts)
    history = [np.array([item_ids.index("lip-1"), item_ids.index("nail-1")])]
    assert not np.allclose(model.score(history), plain.score(history), atol=1e-3)  # the metric counts
    assert_parity(artifacts, tmp_path)


@pytest.mark.parametrize(
    "own",
    [
        {"cold_cooccurrence_weight": 0.2, "cold_text_weight": 12.0},
        # text only for new products: the server must still compute the text affinity
        {"text_weight": 0.0, "cold_text_weight": 12.0},
        # title words weighed otherwise for new products
        {"cold_word_weight": 9.0, "cold_text_weight": 0.0},
    ],
)
def test_served_scores_equal_offline_scores_with_new_products_own_weights(
    parity_artifacts: Path, tmp_path: Path, own: dict[str, float]
) -> None:
    # the artifacts with new products' own co-occurrence and text weights, as `cold_weights` saves them
    artifacts = tmp_path / "own"
    shutil.copytree(parity_artifacts, artifacts)
    blend = json.loads((artifacts / "blend.json").read_text())
    assert "cold_text_weight" not in blend  # not chosen: not written, so older readers still load it
    (artifacts / "blend.json").write_text(json.dumps({**blend, **own}))
    model, item_ids, _ = load_artifacts(artifacts)
    plain, _, _ = load_artifacts(parity_artifacts)
    history = [np.array([item_ids.index("lip-1"), item_ids.index("nail-1")])]
    new, seen = item_ids.index("nail-3"), item_ids.index("lip-2")
    assert model.score(history)[0, new] != pytest.approx(plain.score(history)[0, new], abs=1e-3)
    if "text_weight" not in own:
        assert model.score(history)[0, seen] == plain.score(history)[0, seen]  # trained items: as before
    assert_parity(artifacts, tmp_path)


def assert_parity(artifacts: Path, tmp_path: Path) -> None:
    client = serve_with_twin(artifacts, tmp_path)
    histories = HISTORIES
    model, item_ids, _ = load_artifacts(artifacts)
    index = {item_id: i for i, item_id in enumerate(item_ids)}
    for user, items in histories.items():
        offline_history = np.array([index["nail-3" if i == "nail-new" else i] for i in items])
        offline = model.score([offline_history])[0]
        served = served_shortlist(client, user, k=20)
        assert {"nail-3", "skin-3"} - set(items) <= set(served)  # unseen items of the training catalog
        if "nail-new" not in items:
            assert "nail-new" in served  # and the product added since
        for item_id, score in served.items():
            expected = offline[index["nail-3" if item_id == "nail-new" else item_id]]
            assert score == pytest.approx(expected, rel=1e-5, abs=1e-5), (user, item_id)
        # the HTTP answer ranks by those scores (nail-new ties with its twin: left out of the order)
        answer = client.get(f"/v1/users/{user}/recommendations?k=20", headers=WRITER).json()["items"]
        ranked = [item["item_id"] for item in answer if item["item_id"] != "nail-new"]
        by_score = sorted(served, key=lambda i: -served[i])
        assert ranked == [i for i in by_score if i != "nail-new"]


def _with_a_ranker(artifacts: Path, out: Path) -> Path:
    """The parity artifacts plus a ranking stage over 10 candidates (tests.conftest.synthetic_ranker)
    that raises new products' log-odds, as the exposure rule's shift does."""
    shutil.copytree(artifacts, out)
    ranker = synthetic_ranker(10)
    ranker.cold_shift = 1.5  # a server that ordered by the unshifted probability fails below
    ranker.save(out / "ranker")
    return out


def test_served_ranker_scores_equal_offline_ones_with_new_items(
    parity_artifacts: Path, tmp_path: Path
) -> None:
    from semrec.models.ranker import candidates

    ranked = _with_a_ranker(parity_artifacts, tmp_path / "ranked")
    client = serve_with_twin(ranked, tmp_path, replace_original=True)  # the twin replaces nail-3
    histories = HISTORIES
    model, item_ids, _ = load_artifacts(ranked)
    assert model.ranker is not None  # type: ignore[attr-defined]
    online_id = {item: "nail-new" if item == "nail-3" else item for item in item_ids}
    index = {item_id: i for i, item_id in enumerate(item_ids)}
    checked_new = 0
    for user, items in histories.items():
        history = np.array([index["nail-3" if i == "nail-new" else i] for i in items])
        shortlist = candidates(model, [history], 10, [history])  # type: ignore[arg-type]
        offline = model.ranker.order_scores(shortlist.features)[0]  # type: ignore[attr-defined]
        expected = {
            online_id[item_ids[i]]: float(p)
            for i, p in zip(shortlist.items[0], offline, strict=True)
            if i >= 0
        }
        listed = served_shortlist(client, user, k=10)
        served = dict(list(listed.items())[:10])  # the head the ranker re-scored; the rest follows
        assert set(expected) == set(served), user
        assert all(p < min(served.values()) for p in list(listed.values())[10:])
        for item_id, p in expected.items():
            assert served[item_id] == pytest.approx(p, rel=1e-5, abs=1e-6), (user, item_id)
        checked_new += "nail-new" in expected
        assert len(set(np.round(list(expected.values()), 6))) > 3  # the booster tells candidates apart
        answer = client.get(f"/v1/users/{user}/recommendations?k=10", headers=WRITER).json()["items"]
        assert [item["item_id"] for item in answer] == sorted(expected, key=lambda i: -expected[i])
    assert checked_new == 1  # the product added since training, among ann's candidates
