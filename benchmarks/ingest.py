"""Ingestion benchmark: acknowledged events per second through POST /v1/events, on both store backends.

usage: python benchmarks/ingest.py --artifacts DIR [--data ../shared/datasets/amazon-beauty]
       [--backends sqlite,postgresql] [--per-request 1,10,100] [--clients 1,32] [--seconds 10]
       [--out FILE]

For each backend (SQLite in a fresh file; PostgreSQL in a cluster of its own, started by
scripts/postgres.sh), starts the real server (`semrec serve`) twice, each on a fresh database of its
own, with group commit on and off (the `group_commit` setting), warms both up, and for every
combination of events per request and concurrent clients sends requests to each in turn (which one
goes first alternates) back to back for --seconds (closed loop: each client sends its next
request when the previous one is answered, on a kept-alive connection). Reports acknowledged events
per second, requests per second, latency percentiles and errors; every acknowledged event is then
counted in the database (`lost` must be 0). Clients and server share this machine's cores.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from serving import _send, machine, percentiles, post, start_server, write_result

ROOT = Path(__file__).resolve().parents[1]


async def load(url: str, items: list[str], per_request: int, clients: int, seconds: float) -> dict[str, Any]:
    host = url.removeprefix("http://")
    address, port = host.split(":")
    latencies: list[float] = []
    acknowledged = 0
    errors = 0
    stop_at = time.monotonic() + seconds

    async def client(number: int) -> None:
        nonlocal acknowledged, errors
        rng = random.Random(number)
        reader, writer = await asyncio.open_connection(address, int(port))
        try:
            while time.monotonic() < stop_at:
                shopper = f"bench-{number}-{rng.randrange(1000)}"
                events = [
                    {"user_id": shopper, "item_id": rng.choice(items), "type": "view"}
                    for _ in range(per_request)
                ]
                started = time.perf_counter()
                status = await _send(reader, writer, post(host, "/v1/events", {"events": events}))
                latencies.append(time.perf_counter() - started)
                if status == 200:
                    acknowledged += per_request
                else:
                    errors += 1
        finally:
            writer.close()

    began = time.monotonic()
    await asyncio.gather(*(client(n) for n in range(clients)))
    elapsed = time.monotonic() - began
    return {
        "per_request": per_request,
        "clients": clients,
        "seconds": round(elapsed, 2),
        "events_acknowledged": acknowledged,
        "events_per_s": round(acknowledged / elapsed, 1),
        "requests_per_s": round(len(latencies) / elapsed, 1),
        "errors": errors,
        **percentiles(latencies or [0.0]),
    }


def stored_events(database: str) -> int:
    from semrec.store import open_store

    store = open_store(database)
    try:
        return store.count_events()
    finally:
        store.close()


def settle(url: str) -> None:
    """Lets PostgreSQL finish what the previous load left it (dirty pages, vacuuming) before the
    next one, so neither server's load pays for the other's."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute("CHECKPOINT")
        for _ in range(60):  # autovacuum workers, up to a minute
            busy = admin.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'"
            )
            if busy.fetchone()[0] == 0:  # type: ignore[index]
                break
            time.sleep(1)


def run_backend(
    args: argparse.Namespace, backend: str, items: list[str], workdir: Path
) -> list[dict[str, Any]]:
    cluster = None
    if backend == "postgresql":
        started = subprocess.run(
            ["bash", str(ROOT / "scripts" / "postgres.sh"), "start"],
            capture_output=True,
            text=True,
            check=True,
        )
        base, cluster = started.stdout.split()
    rows = []
    servers: dict[bool, tuple[subprocess.Popen[bytes], str, str]] = {}
    try:
        for group_commit in (True, False):  # both at once, on databases of their own
            if backend == "sqlite":
                database = str(workdir / f"ingest-{group_commit}.db")
            else:
                import psycopg

                name = f"ingest_{str(group_commit).lower()}"
                with psycopg.connect(base, autocommit=True) as admin:
                    admin.execute(f"CREATE DATABASE {name}")
                database = base.rsplit("/", 1)[0] + "/" + name
            folder = workdir / f"{backend}-{group_commit}"
            folder.mkdir()
            extra = f"group_commit = {str(group_commit).lower()}\nmax_events_per_request = 1000\n"
            started_server = start_server(args.artifacts, folder, False, database=database, settings=extra)
            servers[group_commit] = (*started_server, database)
        for _, url, _ in servers.values():  # warm-up (the database's first files, the server's first runs)
            asyncio.run(load(url, items, 100, 8, args.seconds / 2))
        turn = 0
        for per_request in args.per_request:
            for clients in args.clients:
                # the two alternate which goes first, so neither always meets the other's leftovers
                for group_commit in (True, False) if turn % 2 == 0 else (False, True):
                    _, url, database = servers[group_commit]
                    if cluster is not None:
                        settle(base)
                    before = stored_events(database)
                    row = asyncio.run(load(url, items, per_request, clients, args.seconds))
                    row["lost"] = row["events_acknowledged"] - (stored_events(database) - before)
                    row.update(backend=backend, group_commit=group_commit)
                    print(json.dumps(row), file=sys.stderr)
                    rows.append(row)
                turn += 1
    finally:
        for process, _, _ in servers.values():
            process.terminate()
            process.wait(timeout=60)
        if cluster is not None:
            subprocess.run(["bash", str(ROOT / "scripts" / "postgres.sh"), "stop", cluster], check=False)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--artifacts", type=Path, required=True)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "datasets" / "amazon-beauty")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--per-request", default="1,10,100", type=lambda s: [int(x) for x in s.split(",")])
    parser.add_argument("--clients", default="1,32", type=lambda s: [int(x) for x in s.split(",")])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    import pandas as pd

    items = [str(i) for i in pd.read_csv(args.data / "items.csv", usecols=["item_id"])["item_id"]]
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="semrec-ingest-") as folder:
        for backend in args.backends.split(","):
            rows += run_backend(args, backend, items, Path(folder))
    ratios = {}
    speed = {
        (r["backend"], r["group_commit"], r["per_request"], r["clients"]): r["events_per_s"] for r in rows
    }
    for backend, group_commit, per_request, clients in speed:
        if group_commit:
            off = speed[(backend, False, per_request, clients)]
            on = speed[(backend, True, per_request, clients)]
            ratios[f"{backend} {per_request}/request {clients} clients"] = round(on / max(off, 1e-9), 2)
    result = {
        "benchmark": "ingest",
        "dataset": args.data.name,
        "artifacts": str(args.artifacts),
        "seconds_per_load": args.seconds,
        "machine": machine(),
        "results": rows,
        "group_commit_speedup": ratios,
        "lost_total": sum(r["lost"] for r in rows),
    }
    write_result(result, args.out)


if __name__ == "__main__":
    main()
