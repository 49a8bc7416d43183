"""No acknowledged event is lost: the server is killed (SIGKILL, no shutdown) while a client streams
events, restarted on the same database, and every event it acknowledged must be there."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx

from tests.test_serving_e2e import Server, write_config

WRITER = {"Authorization": "Bearer e2e-writer"}
ADMIN = {"Authorization": "Bearer e2e-admin"}
TRIALS = 3
BATCH = 10


def stream_until_killed(server: Server, shopper: str, delay: float) -> list[float]:
    """Streams batches of events (each with a value of its own) and, once a few batches are
    acknowledged, kills the server ``delay`` seconds later, mid-stream; returns the values of the
    events it acknowledged."""
    acknowledged: list[float] = []
    stop = threading.Event()

    def send() -> None:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            number = 0
            while not stop.is_set():
                values = [float(number * BATCH + i) for i in range(BATCH)]
                number += 1
                events = [
                    {"user_id": shopper, "item_id": "hair-1", "type": "purchase", "value": v} for v in values
                ]
                try:
                    response = client.post("/v1/events", json={"events": events}, headers=WRITER)
                except httpx.TransportError:
                    return  # the server is gone: this batch was never acknowledged
                if response.status_code == 200:
                    acknowledged.extend(values)

    sender = threading.Thread(target=send)
    sender.start()
    deadline = time.monotonic() + 60
    while len(acknowledged) < 3 * BATCH and time.monotonic() < deadline and sender.is_alive():
        time.sleep(0.01)
    time.sleep(delay)
    assert server.process is not None
    server.process.kill()
    server.process.wait()
    stop.set()
    sender.join(timeout=30)
    return acknowledged


def test_no_acknowledged_event_is_lost_when_the_server_is_killed(
    shop_artifacts: dict[str, Path], tmp_path: Path
) -> None:
    server = Server(write_config(shop_artifacts, tmp_path))
    server.start()
    try:
        for trial in range(TRIALS):
            shopper = f"streamer-{trial}"
            acknowledged = stream_until_killed(server, shopper, delay=0.05 + 0.1 * trial)
            assert len(acknowledged) >= BATCH, "nothing was acknowledged before the kill: nothing tested"
            server.start()  # back on the same database
            exported = httpx.get(f"{server.url}/v1/users/{shopper}/export", headers=ADMIN, timeout=30).json()
            stored = {event["value"] for event in exported["events"]}
            lost = [value for value in acknowledged if value not in stored]
            assert not lost, f"trial {trial}: {len(lost)} of {len(acknowledged)} acknowledged events lost"
    finally:
        server.stop()
