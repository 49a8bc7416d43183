"""Several nodes over one PostgreSQL database: two real `semrec serve` processes on their own ports,
each with its own engine; what one acknowledges is in the other's next answer."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx

from tests.test_serving_e2e import ADMIN, READER, WRITER, Server, top


def node_config(shop_artifacts: dict[str, Path], database: str, folder: Path) -> Path:
    config = folder / "semrec.toml"
    config.write_text(
        f'artifacts = "{shop_artifacts["lmrec"]}"\n'
        f'database = "{database}"\n'
        "[[api_keys]]\nname = 'reader'\nkey = 'e2e-reader'\nscopes = ['read']\n"
        "[[api_keys]]\nname = 'writer'\nkey = 'e2e-writer'\nscopes = ['read', 'write']\n"
        "[[api_keys]]\nname = 'ops'\nkey = 'e2e-admin'\nscopes = ['read', 'write', 'admin']\n"
    )
    return config


def test_two_nodes_on_one_postgresql_database_answer_each_others_writes(
    shop_artifacts: dict[str, Path], postgres_url: str, tmp_path: Path
) -> None:
    config = node_config(shop_artifacts, postgres_url, tmp_path)
    nodes = [Server(config), Server(config)]
    try:
        for node in nodes:
            node.start()
        a, b = (httpx.Client(base_url=n.url, timeout=30) for n in nodes)
        assert a.get("/readyz").json()["model_version"] == b.get("/readyz").json()["model_version"]

        # events taken by a: in b's next answer
        url = "/v1/users/zoe/recommendations?k=5"
        assert b.get(url, headers=READER).json()["personalized"] is False
        clicks = [{"user_id": "zoe", "item_id": "hair-1", "type": "click"} for _ in range(3)]
        assert a.post("/v1/events", json={"events": clicks}, headers=WRITER).json() == {"accepted": 3}
        answer = b.get(url, headers=READER).json()
        assert answer["personalized"] is True and "hair-1" not in [i["item_id"] for i in answer["items"]]
        assert top(b, url) == top(a, url)
        assert b.get("/v1/users/zoe/profile", headers=READER).json()["events"] == 3

        # a product added through b: found through a; deleted through a: gone from b
        product = {"title": "Glowa Velvet Rose Lip Balm", "brand": "Glowa", "category": "Makeup > Lips"}
        assert b.put("/v1/items/balm-9", json=product, headers=WRITER).status_code == 200
        assert a.get("/v1/items/balm-9", headers=READER).json()["brand"] == "Glowa"
        assert "balm-9" in top(a, "/v1/items/lip-1/similar?k=4")
        assert top(a, "/v1/search?q=rose+lip+balm&k=3")[0] == "balm-9"
        assert a.delete("/v1/items/balm-9", headers=WRITER).status_code == 200
        assert b.get("/v1/items/balm-9", headers=READER).status_code == 404
        assert "balm-9" not in top(b, "/v1/search?q=rose+lip+balm&k=20")

        # events sent to both nodes at once, many clients: every acknowledged one is stored once
        acknowledged: list[int] = []

        def send(node: httpx.Client, shopper: str) -> None:
            with httpx.Client(base_url=str(node.base_url), timeout=30) as own:
                for _ in range(10):
                    event = {"user_id": shopper, "item_id": "lip-2", "type": "view"}
                    response = own.post("/v1/events", json={"events": [event]}, headers=WRITER)
                    if response.status_code == 200:
                        acknowledged.append(response.json()["accepted"])

        senders = [threading.Thread(target=send, args=((a, b)[i % 2], f"s{i}")) for i in range(8)]
        for sender in senders:
            sender.start()
        for sender in senders:
            sender.join(timeout=120)
        assert sum(acknowledged) == 80
        for client in (a, b):
            assert all(
                client.get(f"/v1/users/s{i}/profile", headers=READER).json()["events"] == 10 for i in range(8)
            )

        # an erasure through b: nothing of the shopper left on a
        assert b.delete("/v1/users/zoe", headers=ADMIN).json()["removed_events"] == 3
        assert a.get(url, headers=READER).json()["personalized"] is False
        assert a.get("/v1/users/zoe/profile", headers=READER).json()["events"] == 0

        # a reload through a: b follows on its own, answering throughout
        old = b.get("/readyz").json()["model_version"]
        reloaded = a.post(
            "/v1/admin/reload", json={"artifacts": str(shop_artifacts["text-zeroshot"])}, headers=ADMIN
        )
        assert reloaded.status_code == 200, reloaded.text
        new = reloaded.json()["model_version"]
        assert new != old
        deadline = time.monotonic() + 120
        while b.get("/readyz").json()["model_version"] != new:
            assert time.monotonic() < deadline, "node b did not follow the reload in 120 s"
            assert b.get(url, headers=READER).status_code == 200
            time.sleep(0.1)
        assert top(b, "/v1/search?q=shampoo&k=3") == top(a, "/v1/search?q=shampoo&k=3")
    finally:
        for node in nodes:
            node.stop()
