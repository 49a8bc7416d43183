"""Durability under kill -9: the server is killed (SIGKILL, no shutdown) while a client streams
events, restarted on the same database, again and again; every acknowledged event must be stored.

    python benchmarks/durability.py --artifacts DIR [--trials 20] [--batch 10] [--out results/...]

Each trial starts `semrec serve` on the same SQLite database, streams batches of --batch events
(each event with a value of its own, so each can be found again) from one client, and kills the
server at a random moment once a few batches are acknowledged. After the last trial the database
itself is read (not through the server): every acknowledged value must be there.
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from serving import KEY, machine, start_server, write_result


def stream_until_killed(
    url: str, process: Any, item: str, first: int, batch: int, delay: float
) -> tuple[list[float], float]:
    """Streams batches until the server dies; kills it ``delay`` s after 3 batches are acknowledged.
    Returns the acknowledged values and the events per second acknowledged."""
    acknowledged: list[float] = []
    stop = threading.Event()

    def send() -> None:
        with httpx.Client(base_url=url, headers={"X-API-Key": KEY}, timeout=10) as client:
            number = 0
            while not stop.is_set():
                values = [float(first + number * batch + i) for i in range(batch)]
                number += 1
                events = [
                    {"user_id": "streamer", "item_id": item, "type": "purchase", "value": v} for v in values
                ]
                try:
                    response = client.post("/v1/events", json={"events": events})
                except httpx.TransportError:
                    return  # the server is gone: this batch was never acknowledged
                if response.status_code == 200:
                    acknowledged.extend(values)

    sender = threading.Thread(target=send)
    started = time.monotonic()
    sender.start()
    deadline = started + 60
    while len(acknowledged) < 3 * batch and time.monotonic() < deadline and sender.is_alive():
        time.sleep(0.005)
    time.sleep(delay)
    process.kill()
    process.wait()
    elapsed = time.monotonic() - started
    stop.set()
    sender.join(timeout=30)
    return acknowledged, len(acknowledged) / max(elapsed, 1e-9)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--artifacts", type=Path, required=True)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    item = json.loads((args.artifacts / "item_ids.json").read_text())[0]
    workdir = Path(tempfile.mkdtemp(prefix="semrec-kill-"))
    trials: list[dict[str, Any]] = []
    acknowledged: list[float] = []
    for trial in range(args.trials):
        process, url = start_server(args.artifacts, workdir, text_shortlist=True)
        delay = rng.uniform(0.0, 2.0)
        values, rate = stream_until_killed(url, process, str(item), trial * 10_000_000, args.batch, delay)
        acknowledged += values
        trials.append(
            {
                "trial": trial,
                "kill_after_s": round(delay, 3),
                "acknowledged": len(values),
                "events_per_s": round(rate, 1),
            }
        )
        print(trials[-1], flush=True)
    with sqlite3.connect(workdir / "bench.db") as db:
        stored = {row[0] for row in db.execute("SELECT value FROM events")}
    lost = [v for v in acknowledged if v not in stored]
    result = {
        "benchmark": "durability",
        "artifacts": str(args.artifacts),
        "machine": machine(),
        "settings": {k: str(v) for k, v in vars(args).items()},
        "trials": trials,
        "summary": {
            "trials": len(trials),
            "acknowledged": len(acknowledged),
            "lost": len(lost),
            "stored_beyond_acknowledged": len(stored) - len(set(acknowledged)),
        },
    }
    write_result(result, args.out)
    if lost:
        raise SystemExit(f"{len(lost)} acknowledged events were lost")


if __name__ == "__main__":
    main()
