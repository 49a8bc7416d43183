"""Several server processes over one database: what one takes, the others answer with at once.

Two apps built on the same SQLite file stand for two worker processes here: each has its own
connection, engine and caches, exactly what a second process has (the multi-process server itself
is driven over HTTP in test_serving_e2e.py).
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from semrec.serving.app import create_app
from semrec.serving.settings import ServerSettings

KEYS = [{"name": "ops", "key": "a-secret", "scopes": ["read", "write", "admin"]}]
KEY = {"X-API-Key": "a-secret"}


def worker(artifacts: Path, database: Path) -> TestClient:
    settings = ServerSettings(artifacts=artifacts, database=database, api_keys=KEYS)
    return TestClient(create_app(settings), raise_server_exceptions=False)


def ids(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["item_id"] for item in response.json()["items"]]


def engine_of(client: TestClient) -> Any:
    return client.app.state.follower.engine  # type: ignore[attr-defined]


def test_a_write_taken_by_one_worker_reaches_the_other_before_its_next_answer(
    shop_artifacts: dict[str, Path], tmp_path: Path
) -> None:
    a, b = (worker(shop_artifacts["lmrec"], tmp_path / "shop.db") for _ in range(2))
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
    shop_artifacts: dict[str, Path], tmp_path: Path
) -> None:
    a, b = (worker(shop_artifacts["lmrec"], tmp_path / "shop.db") for _ in range(2))
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
    shop_artifacts: dict[str, Path], tmp_path: Path
) -> None:
    a, b = (worker(shop_artifacts["lmrec"], tmp_path / "shop.db") for _ in range(2))
    assert "lip-2" in ids(b.get("/v1/search?q=lip&k=20", headers=KEY))
    # b sleeps (no request, no tick) while a takes writes and a reload and the log is pruned
    new = a.post("/v1/admin/reload", json={"artifacts": str(shop_artifacts["text-zeroshot"])}, headers=KEY)
    assert new.status_code == 200, new.text
    product = {"title": "Glowa Velvet Rose Lip Balm", "brand": "Glowa"}
    assert a.put("/v1/items/balm-9", json=product, headers=KEY).status_code == 200
    assert a.delete("/v1/items/lip-2", headers=KEY).status_code == 200
    assert engine_of(a).store.prune_changes(time.time() + 1) >= 2
    assert b.get("/v1/items/lip-2", headers=KEY).status_code == 404  # b's first answer is current
    assert "lip-2" not in ids(b.get("/v1/search?q=lip&k=20", headers=KEY))
    assert ids(b.get("/v1/search?q=rose+lip+balm&k=3", headers=KEY))[0] == "balm-9"
    assert b.get("/readyz").json()["model_version"] == new.json()["model_version"]  # and the reload


def test_an_idle_worker_follows_and_prunes_on_its_own(
    shop_artifacts: dict[str, Path], tmp_path: Path
) -> None:
    database = tmp_path / "shop.db"
    a = worker(shop_artifacts["lmrec"], database)
    settings = ServerSettings(
        artifacts=shop_artifacts["lmrec"], database=database, api_keys=KEYS, follow_interval=0.05,
        change_log_retention=1,
    )  # fmt: skip
    with TestClient(create_app(settings)) as b:  # its lifespan runs, as under uvicorn
        product = {"title": "Glowa Velvet Rose Lip Balm", "brand": "Glowa"}
        assert a.put("/v1/items/balm-9", json=product, headers=KEY).status_code == 200
        deadline = time.monotonic() + 30
        while engine_of(b).catalog.live_row("balm-9") is None:  # b is asked nothing meanwhile
            assert time.monotonic() < deadline, "the idle worker never applied the new item"
            time.sleep(0.05)
        time.sleep(1.1)  # the item's entry is now older than the retention
        assert a.delete("/v1/items/hair-1", headers=KEY).status_code == 200

        def entries() -> int:
            with sqlite3.connect(database) as db:
                return int(db.execute("SELECT COUNT(*) FROM changes").fetchone()[0])

        while entries() > 1 or engine_of(b).catalog.live_row("hair-1") is not None:
            assert time.monotonic() < deadline, "the idle worker never pruned or never applied the deletion"
            time.sleep(0.05)
    assert "hair-1" not in ids(a.get("/v1/search?q=hair&k=20", headers=KEY))
