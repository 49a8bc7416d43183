"""`semrec serve --ray`: the API as a Ray Serve deployment of two replicas on a local Ray cluster (the
real command, its own cluster), over one PostgreSQL store: each replica answers with every write
any replica acknowledged."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from semrec.distributed.serve import deployment_options
from tests.test_serving_e2e import READER, WRITER, Server, top
from tests.test_serving_nodes import node_config


def test_replicas_are_fixed_or_autoscaled_within_clear_bounds() -> None:
    assert deployment_options(2, None, 1.0) == {"ray_actor_options": {"num_cpus": 1.0}, "num_replicas": 2}
    scaled = deployment_options(1, 4, 0.5)["autoscaling_config"]
    assert scaled["min_replicas"] == 1 and scaled["max_replicas"] == 4
    with pytest.raises(ValueError, match="at most max_replicas"):
        deployment_options(3, 2, 1.0)


def test_replicas_on_ray_serve_read_each_others_writes(
    shop_artifacts: dict[str, Path], postgres_url: str, tmp_path: Path
) -> None:
    server = Server(node_config(shop_artifacts, postgres_url, tmp_path), "--ray", "--ray-replicas", "2",
                    ready_seconds=300)  # fmt: skip
    try:
        server.start()
        answered: set[int] = set()
        for _ in range(40):  # new connections: the proxy spreads them over the replicas
            with httpx.Client(base_url=server.url, timeout=30) as client:
                answered.add(client.get("/readyz").json()["worker"])
            if len(answered) == 2:
                break
        assert len(answered) == 2, answered

        for n in range(6):  # each write, then reads that may land on either replica
            shopper = f"ray-{n}"
            with httpx.Client(base_url=server.url, timeout=30) as client:
                click = {"user_id": shopper, "item_id": "hair-1", "type": "click"}
                assert client.post("/v1/events", json={"events": [click]}, headers=WRITER).status_code == 200
            for _ in range(3):
                with httpx.Client(base_url=server.url, timeout=30) as client:
                    answer = client.get(f"/v1/users/{shopper}/recommendations?k=5", headers=READER).json()
                    assert answer["personalized"] is True
                    assert client.get(f"/v1/users/{shopper}/profile", headers=READER).json()["events"] == 1
        product = {"title": "Glowa Velvet Rose Lip Balm", "brand": "Glowa", "category": "Makeup > Lips"}
        with httpx.Client(base_url=server.url, timeout=30) as client:
            assert client.put("/v1/items/balm-9", json=product, headers=WRITER).status_code == 200
        for _ in range(6):
            with httpx.Client(base_url=server.url, timeout=30) as client:
                assert top(client, "/v1/search?q=rose+lip+balm&k=3")[0] == "balm-9"
    finally:
        server.stop()
