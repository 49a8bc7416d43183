"""Several server processes over one database: what one takes, the others answer with at once.

Two apps built on the same database stand for two worker processes (on SQLite) or two nodes (on
PostgreSQL) here: each has its own connections, engine and caches, exactly what a second process
has (the multi-process server and several nodes are driven over HTTP in test_serving_e2e.py and
test_serving_nodes.py).
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from semrec.api.app import create_app
from semrec.settings import ServerSettings

KEYS = [{"name": "ops", "key": "a-secret", "scopes": ["read", "write", "admin"]}]
KEY = {"X-API-Key": "a-secret"}


def worker(artifacts: Path, database: Path | str) -> TestClient:
    settings = ServerSettings(artifacts=artifacts, database=database, api_keys=KEYS)
    return TestClient(create_app(settings), raise_server_exceptions=False)


def ids(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["item_id"] for item in response.json()["items"]]


def engine_of(client: TestClient) -> Any:
    return client.app.state.follower.engine  # type: ignore[attr-defined]


def miss_pruned_entries(a: TestClient) -> None:
    """Two deletions through ``a``, the first one's log entry pruned: every other worker missed it."""
    assert a.delete("/v1/items/lip-2", headers=KEY).status_code == 200
    assert a.delete("/v1/items/lip-3", headers=KEY).status_code == 200
    assert engine_of(a).store.prune_changes(time.time() + 1) == 1


def test_a_write_taken_by_one_worker_reaches_the_other_before_its_next_answer(
    shop_artifacts: dict[str, Path], database: str
) -> None:
    a, b = (worker(shop_artifacts["lmrec"], database) for _ in range(2))
    url = "/v1/users/ann/recommendations?k=5"
    assert b.get(url, headers=KEY).json()["personalized"] is False  # b has cached nothing personal
    events = [{"user_id": "ann", "item_id": "hair-1", "type": "view"} for _ in range(3)]
    row = engine_of(b).catalog.live_row("hair-1")
    counted = engine_of(b).catalog.popularity[row]
    assert a.post("/v1/events", json={"events": events}, headers=KEY).json() == {"accepted": 3}
    personal = b.get(url, headers=KEY).json()
    assert personal["personalized"] is True and "hair-1" not in [i["item_id"] for i in personal["items"]]
    assert [i["item_id"] for i in personal["items"]] == ids(a.get(url, headers=KEY))  # same answer
    assert engine_of(b).catalog.popularity[row] == counted + 3  # the popular list counts them too

    # a product added on a is recommendable and searchable on b; deleted on a, gone from b
    product = {"title": "Glowa Velvet Rose Lip Balm", "brand": "Glowa", "category": "Makeup > Lips"}
    assert a.put("/v1/items/balm-9", json=product, headers=KEY).status_code == 200
    assert "balm-9" in ids(b.get("/v1/items/lip-1/similar?k=4", headers=KEY))
    assert "balm-9" in ids(b.get("/v1/search?q=rose+lip+balm&k=3", headers=KEY))
    assert b.get("/v1/items/balm-9", headers=KEY).json()["brand"] == "Glowa"
    assert a.put("/v1/items/balm-9", json={**product, "available": False}, headers=KEY).status_code == 200
    assert "balm-9" not in ids(b.get("/v1/search?q=rose+lip+balm&k=20", headers=KEY))  # unavailable
    assert a.delete("/v1/items/lip-2", headers=KEY).status_code == 200
    assert b.get("/v1/items/lip-2", headers=KEY).status_code == 404
    for path in (
        "/v1/users/ann/recommendations?k=20",
        "/v1/items/lip-1/similar?k=20",
        "/v1/search?q=lip&k=20",
    ):
        assert "lip-2" not in ids(b.get(path, headers=KEY))
    assert "semrec_index_items 11.0" in b.get("/metrics").text  # 12 items, one unavailable, one deleted

    # an erasure on a leaves nothing of the shopper in b's caches
    key = engine_of(b).user_key("ann")
    assert key in engine_of(b)._queries
    assert a.delete("/v1/users/ann", headers=KEY).json()["removed_events"] == 3
    assert b.get(url, headers=KEY).json()["personalized"] is False
    assert key not in engine_of(b)._queries and key not in engine_of(b)._answers
    assert b.get("/v1/users/ann/profile", headers=KEY).json()["events"] == 0


def test_a_reload_on_one_worker_is_followed_by_the_others(
    shop_artifacts: dict[str, Path], database: str
) -> None:
    a, b = (worker(shop_artifacts["lmrec"], database) for _ in range(2))
    old = b.get("/readyz").json()["model_version"]
    reloaded = a.post(
        "/v1/admin/reload", json={"artifacts": str(shop_artifacts["text-zeroshot"])}, headers=KEY
    )
    assert reloaded.status_code == 200, reloaded.text
    new = reloaded.json()["model_version"]
    # taken on a while b may still be building: b's new engine must have it all the same
    product = {"title": "Glowa Velvet Rose Lip Balm", "brand": "Glowa"}
    assert a.put("/v1/items/balm-9", json=product, headers=KEY).status_code == 200
    seen = set()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready = b.get("/readyz")
        assert ready.status_code == 200  # b answers throughout, with the old model until the swap
        seen.add(ready.json()["model_version"])
        assert ids(b.get("/v1/search?q=rose+lip+balm&k=3", headers=KEY))[0] == "balm-9"
        if ready.json()["model_version"] == new:
            break
        time.sleep(0.05)
    assert seen <= {old, new} and new in seen
    assert engine_of(b).runtime.name == "text-zeroshot"
    assert "balm-9" in ids(b.get("/v1/search?q=rose+lip+balm&k=3", headers=KEY))
    metrics = b.get("/metrics").text
    assert f'semrec_model_info{{version="{new}"}} 1.0' in metrics
    assert "semrec_reloads_total 0.0" in metrics  # counted once, by the worker that took it


def test_a_worker_whose_missed_entries_were_pruned_rebuilds_from_the_store(
    shop_artifacts: dict[str, Path], database: str
) -> None:
    a, b = (worker(shop_artifacts["lmrec"], database) for _ in range(2))
    assert "lip-2" in ids(b.get("/v1/search?q=lip&k=20", headers=KEY))
    # b sleeps (no request, no tick) while a takes writes and a reload and the log is pruned
    new = a.post("/v1/admin/reload", json={"artifacts": str(shop_artifacts["text-zeroshot"])}, headers=KEY)
    assert new.status_code == 200, new.text
    product = {"title": "Glowa Velvet Rose Lip Balm", "brand": "Glowa"}
    assert a.put("/v1/items/balm-9", json=product, headers=KEY).status_code == 200
    assert a.delete("/v1/items/lip-2", headers=KEY).status_code == 200
    assert engine_of(a).store.prune_changes(time.time() + 1) >= 2
    stale = engine_of(b)
    stale.catch_up()
    assert stale.outdated  # it cannot apply what it missed
    assert b.get("/v1/items/lip-2", headers=KEY).status_code == 404  # b's first answer is current
    assert engine_of(b) is not stale and not engine_of(b).outdated
    assert "lip-2" not in ids(b.get("/v1/search?q=lip&k=20", headers=KEY))
    assert ids(b.get("/v1/search?q=rose+lip+balm&k=3", headers=KEY))[0] == "balm-9"
    assert b.get("/readyz").json()["model_version"] == new.json()["model_version"]  # and the reload


def test_a_reload_logged_while_a_worker_rebuilds_is_still_followed(
    shop_artifacts: dict[str, Path], tmp_path: Path
) -> None:
    a, b = (worker(shop_artifacts["lmrec"], tmp_path / "shop.db") for _ in range(2))
    miss_pruned_entries(a)  # b missed the first deletion
    follower = b.app.state.follower  # type: ignore[attr-defined]
    build, reloaded = follower._build, []

    def build_while_a_reloads(path: Path) -> Any:
        follower._build = build
        other = {"artifacts": str(shop_artifacts["text-zeroshot"])}
        answer = a.post("/v1/admin/reload", json=other, headers=KEY)
        reloaded.append(answer.json()["model_version"])
        return build(path)

    follower._build = build_while_a_reloads
    assert b.get("/v1/items/lip-2", headers=KEY).status_code == 404  # rebuilt from the store
    deadline = time.monotonic() + 120
    while b.get("/readyz").json()["model_version"] != reloaded[0]:  # then follows the reload
        assert time.monotonic() < deadline, "the reload logged during the rebuild was never followed"
        time.sleep(0.05)


def test_a_failed_rebuild_is_tried_again_without_a_new_commit(
    shop_artifacts: dict[str, Path], tmp_path: Path
) -> None:
    a, b = (worker(shop_artifacts["lmrec"], tmp_path / "shop.db") for _ in range(2))
    miss_pruned_entries(a)
    follower = b.app.state.follower  # type: ignore[attr-defined]
    build = follower._build

    def fail_once(path: Path) -> Any:
        follower._build = build
        raise OSError("disk full")

    follower._build = fail_once
    assert b.get("/v1/items/lip-1", headers=KEY).status_code == 500  # this request cannot be answered
    assert b.get("/v1/items/lip-2", headers=KEY).status_code == 404  # the next one rebuilds: current


def test_health_checks_answer_while_a_worker_rebuilds(
    shop_artifacts: dict[str, Path], tmp_path: Path
) -> None:
    import threading

    a = worker(shop_artifacts["lmrec"], tmp_path / "shop.db")
    settings = ServerSettings(artifacts=shop_artifacts["lmrec"], database=tmp_path / "shop.db", api_keys=KEYS)
    with TestClient(create_app(settings)) as b:  # one event loop for every request, as under uvicorn
        miss_pruned_entries(a)
        follower = b.app.state.follower  # type: ignore[attr-defined]
        build, building, release = follower._build, threading.Event(), threading.Event()

        def slow_build(path: Path) -> Any:
            building.set()
            release.wait(30)
            return build(path)

        follower._build = slow_build
        answers: dict[str, int] = {}

        def ask(name: str, path: str) -> None:
            answers[name] = b.get(path, headers=KEY).status_code

        asking = threading.Thread(target=ask, args=("item", "/v1/items/lip-2"))
        asking.start()
        assert building.wait(30)
        health = threading.Thread(target=ask, args=("health", "/healthz"))
        health.start()
        health.join(timeout=10)
        during = dict(answers)
        release.set()
        asking.join(timeout=60)
        health.join(timeout=60)
    assert during == {"health": 200}  # the event loop answered while the model was being built
    assert answers["item"] == 404  # and the waiting request got the rebuilt, current engine


def test_requests_waiting_for_a_failed_rebuild_share_its_outcome(
    shop_artifacts: dict[str, Path], tmp_path: Path
) -> None:
    import threading

    a = worker(shop_artifacts["lmrec"], tmp_path / "shop.db")
    settings = ServerSettings(
        artifacts=shop_artifacts["lmrec"], database=tmp_path / "shop.db", api_keys=KEYS, follow_interval=3600
    )  # requests alone trigger the rebuild here
    with TestClient(create_app(settings), raise_server_exceptions=False) as b:
        miss_pruned_entries(a)
        follower = b.app.state.follower  # type: ignore[attr-defined]
        build, builds, release = follower._build, [], threading.Event()

        def failing_build(path: Path) -> Any:
            builds.append(path)
            release.wait(30)  # the other requests queue up meanwhile
            raise OSError("disk full")

        follower._build = failing_build
        codes: list[int] = []
        askers = [
            threading.Thread(target=lambda: codes.append(b.get("/v1/items/lip-1", headers=KEY).status_code))
            for _ in range(3)
        ]
        for asker in askers:
            asker.start()
        time.sleep(1)
        release.set()
        for asker in askers:
            asker.join(timeout=60)
        assert len(builds) == 1 and sorted(codes) == [500, 503, 503]  # one attempt, shared
        follower._build = build
        assert b.get("/v1/items/lip-2", headers=KEY).status_code == 404  # the next request rebuilds


def test_an_idle_worker_follows_and_prunes_on_its_own(
    shop_artifacts: dict[str, Path], tmp_path: Path
) -> None:
    database = tmp_path / "shop.db"
    a = worker(shop_artifacts["lmrec"], database)
    assert a.put("/v1/items/balm-9", json={"title": "Rose Lip Balm"}, headers=KEY).status_code == 200
    assert a.delete("/v1/items/hair-1", headers=KEY).status_code == 200

    def entries() -> list[str]:
        with sqlite3.connect(database) as db:
            return [row[0] for row in db.execute("SELECT key FROM changes ORDER BY seq")]

    with sqlite3.connect(database) as db:
        db.execute("UPDATE changes SET at = at - 7200")  # both entries logged two hours ago
    settings = ServerSettings(
        artifacts=shop_artifacts["lmrec"], database=database, api_keys=KEYS, follow_interval=0.05
    )
    with TestClient(create_app(settings)) as b:  # its lifespan runs, as under uvicorn
        deadline = time.monotonic() + 30
        while entries() != ["hair-1"]:  # past the hour's retention: all but the newest go
            assert time.monotonic() < deadline, f"the worker never pruned: {entries()}"
            time.sleep(0.05)
        assert a.put("/v1/items/soap-5", json={"title": "Olive Soap"}, headers=KEY).status_code == 200
        assert a.delete("/v1/items/balm-9", headers=KEY).status_code == 200
        while engine_of(b).catalog.live_row("soap-5") is None or engine_of(b).catalog.live_row("balm-9"):
            assert time.monotonic() < deadline, "the idle worker never applied the writes"
            time.sleep(0.05)  # b is asked nothing meanwhile
        assert entries() == ["hair-1", "soap-5", "balm-9"]  # recent entries stay


def test_a_worker_applies_its_own_write_once_from_what_it_wrote(
    shop_artifacts: dict[str, Path], database: str, monkeypatch: Any
) -> None:
    a, b = (worker(shop_artifacts["lmrec"], database) for _ in range(2))
    store = engine_of(a).store
    read_back: list[str] = []
    real_get_item = store.get_item

    def get_item(item_id: str) -> Any:
        read_back.append(item_id)
        return real_get_item(item_id)

    monkeypatch.setattr(store, "get_item", get_item)
    rows = engine_of(a).catalog.rows
    product = {"title": "Glowa Velvet Rose Lip Balm", "brand": "Glowa", "category": "Makeup > Lips"}
    # b's write commits first, so a applies it (from the store) before its own (from memory)
    assert b.put("/v1/items/balm-8", json=product, headers=KEY).status_code == 200
    assert a.put("/v1/items/balm-9", json=product, headers=KEY).json()["recommendable"] is True
    assert read_back == ["balm-8"]
    catalog = engine_of(a).catalog
    assert catalog.rows == rows + 2  # one row each: nothing applied twice
    assert [catalog.live_row("balm-8"), catalog.live_row("balm-9")] == [rows, rows + 1]
    assert "balm-9" in ids(a.get("/v1/items/lip-1/similar?k=4", headers=KEY))
    assert engine_of(a).applied_change == store.last_change()
