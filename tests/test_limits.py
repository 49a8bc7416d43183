"""Per-key rate limits: a token bucket per API key and scope, 429 with Retry-After past it, and one
key's flood leaves other keys' buckets alone."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from semrec.api.app import create_app
from semrec.settings import RateLimit, ServerSettings, load_settings
from tests.test_serving_api import KEYS, READER, WRITER
from tests.test_serving_e2e import Server

OTHER_READER = {"X-API-Key": "r2-secret"}


def client(artifacts: Path, database: Path, **settings: Any) -> TestClient:
    keys = [*KEYS, {"name": "reader-2", "key": "r2-secret", "scopes": ["read"]}]
    config = ServerSettings(artifacts=artifacts, database=database, api_keys=keys, **settings)
    return TestClient(create_app(config), raise_server_exceptions=False)


def test_a_key_past_its_bucket_gets_429_with_retry_after(
    shop_artifacts: dict[str, Path], tmp_path: Path
) -> None:
    api = client(
        shop_artifacts["lmrec"],
        tmp_path / "l.db",
        rate_limits={"read": RateLimit(requests=1, seconds=60, burst=3)},
        anonymous_scopes=["read"],
    )
    url = "/v1/items/lip-1/similar?k=3"
    assert [api.get(url, headers=READER).status_code for _ in range(3)] == [200, 200, 200]
    refused = api.get(url, headers=READER)
    assert refused.status_code == 429
    error = refused.json()["error"]
    assert error["code"] == "too_many_requests" and "1 per 60 s" in str(error["details"][0]["allowed"])
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert api.get(url, headers=OTHER_READER).status_code == 200  # another key: its own bucket
    # the writer key also reads: its read bucket is its own, and writes are not limited here
    assert api.get(url, headers=WRITER).status_code == 200
    event = {"user_id": "u", "item_id": "lip-1", "type": "view"}
    assert all(
        api.post("/v1/events", json={"events": [event]}, headers=WRITER).status_code == 200 for _ in range(5)
    )
    assert api.get("/healthz").status_code == 200  # public routes are not limited
    anonymous = [api.get(url).status_code for _ in range(4)]  # one bucket per address
    assert anonymous == [200, 200, 200, 429]


def test_limits_come_from_the_settings_file(shop_artifacts: dict[str, Path], tmp_path: Path) -> None:
    config = tmp_path / "semrec.toml"
    config.write_text(
        f'artifacts = "{shop_artifacts["lmrec"]}"\n'
        "[rate_limits.read]\nrequests = 50\nburst = 80\n[rate_limits.write]\nrequests = 5\nseconds = 2\n"
    )
    limits = load_settings(config).rate_limits
    assert limits["read"] == RateLimit(requests=50, burst=80) and limits["write"].seconds == 2
    assert "admin" not in limits  # a file that names its limits names all it wants
    config.write_text(f'artifacts = "{shop_artifacts["lmrec"]}"\n[rate_limits.reads]\nrequests = 5\n')
    with pytest.raises(ValueError, match="rate_limits"):
        load_settings(config)


def test_a_flood_from_one_key_does_not_refuse_another(
    shop_artifacts: dict[str, Path], tmp_path: Path
) -> None:
    """Over real HTTP: four threads flood with one key well past its bucket while another key
    asks at a modest pace; the flood is refused with 429, the other key never is."""
    config = tmp_path / "semrec.toml"
    config.write_text(
        f'artifacts = "{shop_artifacts["lmrec"]}"\ndatabase = "{tmp_path / "f.db"}"\n'
        "[[api_keys]]\nname = 'flood'\nkey = 'k-flood'\nscopes = ['read']\n"
        "[[api_keys]]\nname = 'calm'\nkey = 'k-calm'\nscopes = ['read']\n"
        "[rate_limits.read]\nrequests = 20\nburst = 20\n"
    )
    server = Server(config)
    server.start()
    flood: list[int] = []
    calm: list[int] = []
    stop = threading.Event()

    def hammer() -> None:
        with httpx.Client(base_url=server.url, headers={"X-API-Key": "k-flood"}, timeout=30) as c:
            while not stop.is_set():
                flood.append(c.get("/v1/items/lip-1/similar?k=5").status_code)

    try:
        threads = [threading.Thread(target=hammer) for _ in range(4)]
        for thread in threads:
            thread.start()
        with httpx.Client(base_url=server.url, headers={"X-API-Key": "k-calm"}, timeout=30) as c:
            for _ in range(15):  # 15 requests in 1.5 s, well inside 20 per second
                calm.append(c.get("/v1/items/lip-1/similar?k=5").status_code)
                time.sleep(0.1)
        stop.set()
        for thread in threads:
            thread.join()
    finally:
        stop.set()
        server.stop()
    assert calm == [200] * 15
    assert flood.count(429) > flood.count(200) > 0, (flood.count(200), flood.count(429))
    assert set(flood) == {200, 429}
