"""End to end: the real `semrec serve` process on a port, driven over HTTP."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

WRITER = {"X-API-Key": "e2e-writer"}
ADMIN = {"X-API-Key": "e2e-admin"}
READER = {"X-API-Key": "e2e-reader"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    def __init__(
        self,
        config: Path,
        *extra: str,
        ready_seconds: float = 120,
        preexec_fn: Callable[[], None] | None = None,
    ) -> None:
        self.config = config
        self.preexec_fn = preexec_fn
        self.extra = extra
        self.ready_seconds = ready_seconds
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [
            sys.executable,
            "-m",
            "semrec.cli",
            "serve",
            "--config",
            str(self.config),
            "--port",
            str(self.port),
            *self.extra,
        ]
        env = {**os.environ, "SEMREC_PROGRESS": "0"}
        # to a file: a pipe nobody reads would stall a server that logs much
        self.log = self.config.parent / f"server-{self.port}.log"
        with self.log.open("ab") as output:
            self.process = subprocess.Popen(
                command, env=env, stdout=output, stderr=subprocess.STDOUT, preexec_fn=self.preexec_fn
            )
        deadline = time.monotonic() + self.ready_seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log.read_text()[-8000:]}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.2)
        raise RuntimeError(f"server did not become ready in {self.ready_seconds} s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()


def write_config(shop_artifacts: dict[str, Path], tmp_path: Path) -> Path:
    config = tmp_path / "semrec.toml"
    config.write_text(
        f'artifacts = "{shop_artifacts["lmrec"]}"\n'
        f'database = "{tmp_path / "e2e.db"}"\n'
        "[[api_keys]]\nname = 'reader'\nkey = 'e2e-reader'\nscopes = ['read']\n"
        "[[api_keys]]\nname = 'writer'\nkey = 'e2e-writer'\nscopes = ['read', 'write']\n"
        "[[api_keys]]\nname = 'ops'\nkey = 'e2e-admin'\nscopes = ['read', 'write', 'admin']\n"
    )
    return config


@pytest.fixture
def server(shop_artifacts: dict[str, Path], tmp_path: Path) -> Iterator[Server]:
    running = Server(write_config(shop_artifacts, tmp_path))
    running.start()
    yield running
    running.stop()


def top(client: httpx.Client, url: str) -> list[str]:
    response = client.get(url, headers=READER)
    assert response.status_code == 200, response.text
    return [item["item_id"] for item in response.json()["items"]]


def assert_error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["status"] == status and error["message"] and isinstance(error["details"], list)
    return error


def test_the_served_shop_end_to_end(server: Server, shop_artifacts: dict[str, Path]) -> None:
    client = httpx.Client(base_url=server.url, timeout=30)
    # every event changes the next answer
    before = top(client, "/v1/users/zoe/recommendations?k=5")
    click = {"user_id": "zoe", "item_id": "hair-1", "type": "click"}
    sent = client.post("/v1/events", json={"events": [click]}, headers=WRITER)
    assert sent.json() == {"accepted": 1}
    after = top(client, "/v1/users/zoe/recommendations?k=5")
    assert after != before and "hair-1" not in after

    # a new product is there at once; a deleted one never again
    product = {"title": "Glowa Velvet Rose Lip Balm", "brand": "Glowa", "category": "Makeup > Lips"}
    assert client.put("/v1/items/balm-9", json=product, headers=WRITER).status_code == 200
    assert "balm-9" in top(client, "/v1/items/lip-1/similar?k=4")
    assert "balm-9" in top(client, "/v1/search?q=rose+lip+balm&k=3")
    assert client.delete("/v1/items/lip-1", headers=WRITER).status_code == 200
    for _ in range(3):
        for url in (
            "/v1/users/zoe/recommendations?k=20",
            "/v1/items/lip-2/similar?k=20",
            "/v1/search?q=lipstick&k=20",
        ):
            assert "lip-1" not in top(client, url)

    # reload under concurrent requests: zero failures
    failures: list[str] = []
    stop = threading.Event()

    def hammer() -> None:
        with httpx.Client(base_url=server.url, timeout=30) as own:
            while not stop.is_set():
                for url in ("/v1/users/zoe/recommendations?k=5", "/v1/search?q=shampoo&k=3"):
                    response = own.get(url, headers=READER)
                    if response.status_code != 200:
                        failures.append(f"{url}: {response.status_code} {response.text[:200]}")

    workers = [threading.Thread(target=hammer) for _ in range(4)]
    for worker in workers:
        worker.start()
    versions = []
    for artifacts in (shop_artifacts["text-zeroshot"], shop_artifacts["lmrec"]):
        reloaded = client.post("/v1/admin/reload", json={"artifacts": str(artifacts)}, headers=ADMIN)
        assert reloaded.status_code == 200, reloaded.text
        versions.append(reloaded.json()["model_version"])
    time.sleep(0.5)
    stop.set()
    for worker in workers:
        worker.join()
    assert failures == [] and versions[0].startswith("text-zeroshot") and versions[1].startswith("lmrec")
    assert "balm-9" in top(client, "/v1/search?q=rose+lip+balm&k=3")  # writes survive reloads

    # errors, in the one shape
    assert_error(client.get("/v1/users/zoe/recommendations"), 401)
    assert_error(client.post("/v1/events", json={"events": []}, headers=READER), 403)
    bad = assert_error(client.post("/v1/events", json={"events": [{"user_id": "zoe"}]}, headers=WRITER), 422)
    assert {d["where"] for d in bad["details"]} == {"body.events[0].type"}  # which kind of event, first
    typed = {"user_id": "zoe", "type": "click", "position": 2}
    bad = assert_error(client.post("/v1/events", json={"events": [typed]}, headers=WRITER), 422)
    assert {d["where"] for d in bad["details"]} == {"body.events[0].item_id"}
    metrics = client.get("/metrics").text
    assert "semrec_reloads_total 2.0" in metrics


def test_acknowledged_events_survive_a_restart(server: Server) -> None:
    client = httpx.Client(base_url=server.url, timeout=30)
    events = [{"user_id": "kim", "item_id": item, "type": "purchase"} for item in ("eye-1", "eye-2", "lip-3")]
    assert client.post("/v1/events", json={"events": events}, headers=WRITER).json() == {"accepted": 3}
    server.process.kill() if server.process else None  # no clean shutdown
    server.process.wait() if server.process else None
    server.start()
    profile = httpx.get(f"{server.url}/v1/users/kim/profile", headers=READER, timeout=30).json()
    assert profile["events"] == 3 and profile["recent_items"][0]["item_id"] == "lip-3"


def test_logs_and_metrics_never_hold_a_raw_shopper_id(server: Server) -> None:
    shopper = "raw-id-of-a-shopper-7731"
    with httpx.Client(base_url=server.url, timeout=30) as client:
        events = [{"user_id": shopper, "item_id": i, "type": "click"} for i in ("eye-1", "lip-3")]
        assert client.post("/v1/events", json={"events": events}, headers=WRITER).status_code == 200
        bad = [{"user_id": shopper, "item_id": "no-such-item", "type": "click"}]
        assert client.post("/v1/events", json={"events": bad}, headers=WRITER).status_code == 404
        for path in ("recommendations?k=3", "profile"):
            assert client.get(f"/v1/users/{shopper}/{path}", headers=READER).status_code == 200
        assert client.get(f"/v1/users/{shopper}/export", headers=ADMIN).status_code == 200
        assert client.delete(f"/v1/users/{shopper}", headers=ADMIN).status_code == 200
        metrics = client.get("/metrics").text
    assert "/v1/users/{user_id}" in metrics  # requests are counted, by the route's template
    assert shopper not in metrics
    assert shopper not in server.log.read_text(errors="replace")


def fresh(server: Server, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
    """One request on a new connection: the kernel hands it to whichever worker accepts first."""
    return httpx.get(f"{server.url}{path}", headers=headers or READER, timeout=30)


def workers_up(server: Server, count: int = 2, seconds: float = 120) -> set[int]:
    """The worker processes that answer /readyz on new connections, asked until ``count`` have (a
    worker still loading its model accepts nothing, so the first answers may all come from one)."""
    workers: set[int] = set()
    deadline = time.monotonic() + seconds
    while len(workers) < count and time.monotonic() < deadline:
        workers.add(fresh(server, "/readyz").json()["worker"])
    return workers


def test_two_worker_processes_answer_as_one(shop_artifacts: dict[str, Path], tmp_path: Path) -> None:
    running = Server(write_config(shop_artifacts, tmp_path), "--workers", "2")
    running.start()
    try:
        workers = workers_up(running)
        assert len(workers) == 2

        def everywhere(path: str) -> list[list[str]]:
            """The answers to ``path`` on new connections until each worker has given some."""
            out: list[list[str]] = []
            answered: set[int] = set()
            while len(out) < 12 or answered != workers:
                assert len(out) < 200, answered
                with httpx.Client(base_url=running.url, headers=READER, timeout=30) as one:
                    answered.add(one.get("/readyz").json()["worker"])  # this connection's worker
                    response = one.get(path)  # same kept-alive connection: the same worker
                assert response.status_code == 200, response.text
                out.append([item["item_id"] for item in response.json()["items"]])
            return out

        client = httpx.Client(base_url=running.url, timeout=30)
        clicks = [{"user_id": "zoe", "item_id": "hair-1", "type": "click"} for _ in range(4)]
        for click in clicks:  # each on a new connection, so both workers take writes
            sent = httpx.post(
                f"{running.url}/v1/events", json={"events": [click]}, headers=WRITER, timeout=30
            )
            assert sent.json() == {"accepted": 1}
        lists = everywhere("/v1/users/zoe/recommendations?k=5")
        assert all(answer == lists[0] and "hair-1" not in answer for answer in lists)
        product = {"title": "Glowa Velvet Rose Lip Balm", "brand": "Glowa", "category": "Makeup > Lips"}
        assert client.put("/v1/items/balm-9", json=product, headers=WRITER).status_code == 200
        assert all("balm-9" in answer for answer in everywhere("/v1/search?q=rose+lip+balm&k=3"))
        assert client.delete("/v1/items/lip-1", headers=WRITER).status_code == 200
        assert all("lip-1" not in answer for answer in everywhere("/v1/items/lip-2/similar?k=20"))

        # a reload on one worker, followed by the other; requests meanwhile all succeed
        failures: list[str] = []
        stop = threading.Event()

        def hammer() -> None:
            while not stop.is_set():
                for path in ("/v1/users/zoe/recommendations?k=5", "/v1/search?q=rose+lip+balm&k=3"):
                    response = fresh(running, path)
                    if response.status_code != 200 or (path.startswith("/v1/search") and
                                                       "balm-9" not in response.text):  # fmt: skip
                        failures.append(f"{path}: {response.status_code} {response.text[:200]}")

        threads = [threading.Thread(target=hammer) for _ in range(3)]
        for thread in threads:
            thread.start()
        reloaded = client.post(
            "/v1/admin/reload", json={"artifacts": str(shop_artifacts["text-zeroshot"])}, headers=ADMIN
        )
        assert reloaded.status_code == 200, reloaded.text
        new = reloaded.json()["model_version"]
        serving: dict[int, str] = {}
        deadline = time.monotonic() + 120
        while set(serving.values()) != {new} or len(serving) < 2:
            assert time.monotonic() < deadline, serving
            ready = fresh(running, "/readyz").json()
            serving[ready["worker"]] = ready["model_version"]
        stop.set()
        for thread in threads:
            thread.join()
        assert failures == []
        # the metrics of all workers in one answer
        metrics = client.get("/metrics").text
        assert 'semrec_events_ingested_total{type="click"} 4.0' in metrics
        assert (
            "semrec_reloads_total 1.0" in metrics and f'semrec_model_info{{version="{new}"}} 1.0' in metrics
        )
    finally:
        running.stop()


def test_a_twin_of_a_product_is_ranked_like_it_at_once(server: Server) -> None:
    """A product added under a new id with the fields of an existing one borrows that product's ID
    part and co-occurrence (its closest text neighbour): it is among the original's most similar
    items, and recommended to a shopper who just clicked the original and its nearest neighbours."""
    client = httpx.Client(base_url=server.url, timeout=30)
    checked = 0
    for original in ("lip-1", "hair-2", "nail-1", "skin-1"):
        item = client.get(f"/v1/items/{original}", headers=READER).json()
        twin_id = f"{original}-twin"
        fields = {key: item[key] for key in ("title", "brand", "category", "price") if item.get(key)}
        assert client.put(f"/v1/items/{twin_id}", json=fields, headers=WRITER).status_code == 200
        similar = top(client, f"/v1/items/{original}/similar?k=3")
        assert twin_id in similar, (original, similar)
        neighbours = [i for i in top(client, f"/v1/items/{original}/similar?k=4") if i != twin_id][:2]
        shopper = f"twin-fan-{original}"
        clicks = [{"user_id": shopper, "item_id": i, "type": "click"} for i in [*neighbours, original]]
        assert client.post("/v1/events", json={"events": clicks}, headers=WRITER).status_code == 200
        # the catalog holds 12 products plus the twins: the top 3 of 9 or more candidates
        recommended = top(client, f"/v1/users/{shopper}/recommendations?k=3")
        assert twin_id in recommended, (original, neighbours, recommended)
        checked += 1
    assert checked == 4
