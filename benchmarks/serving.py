"""Serving benchmark: HTTP latency under a fixed request rate, and in-process latency at 1M items.

usage: python benchmarks/serving.py --artifacts DIR [--data ../shared/datasets/amazon-beauty]
       [--rate 300] [--search-rate 60] [--events-rate 100] [--seconds 20] [--items 1000000]
       [--passes 1] [--workers 1] [--routes ...] [--json]

1. Starts the real server (`semrec serve`) on a loopback port with a fresh database, loads the
   histories of --users shoppers through POST /v1/events, then sends requests at a fixed rate
   (open loop: each request leaves at its scheduled time, and latency counts from that time, so a
   slow server cannot hide its queueing) for recommendations, similar items and search, then
   recommendations again while --events-rate posts of one view each arrive over other connections
   (recommendations_with_events; the posts' own latency under events_posted). Each load's figures
   carry the share of CPU time the hypervisor stole during its run (cpu_steal_share).
2. In process: grows the catalog to --items vectors (real item vectors plus noise), settles the
   garbage collector as the server does at start-up, warms up on 50 other shoppers, then times
   Engine.recommend (query vector, index search, filters, re-ranking; with --passes N, N times over
   the same shoppers with caches cleared, to tell slow histories from a slow machine), measures the configured
   index's recall@10 against exact search for the same queries (JSON keys keep the name "hnsw"),
   and adding one item to the catalog and the indexes built here (add_one_item: the recommendation
   index; a server also adds it to its similar-items and text indexes, and embeds its text first).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import platform
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import httpx
import numpy as np

from semrec.hardware import cpu_info

ROOT = Path(__file__).resolve().parents[1]
KEY = "bench-key"
ROUTES = (
    "recommendations",
    "similar",
    "search",
    "recommendations_with_events",
    "recommendations_after_own_event",
)
WARM_UP = 50  # requests before timing (first runs of the tower and index), as the HTTP part warms up


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "processor": platform.processor() or platform.machine(),
        "cpu": cpu_info(),  # model and instruction sets (AVX2, AVX-512, VNNI, BF16, AMX)
    }


def write_result(result: dict[str, Any], out: Path | None) -> None:
    """Prints a benchmark's JSON and, with ``out``, writes it there too."""
    text = json.dumps(result, indent=2)
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n")
    print(text)


def percentiles(values: list[float]) -> dict[str, float]:
    array = np.array(values) * 1000
    return {
        "p50_ms": round(float(np.percentile(array, 50)), 3),
        "p99_ms": round(float(np.percentile(array, 99)), 3),
        "max_ms": round(float(array.max()), 3),
    }


def cpu_counters() -> list[int] | None:
    """The machine's CPU time counters (/proc/stat: user nice system idle iowait irq softirq steal),
    or None where the kernel does not publish them."""
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            return [int(v) for v in stat.readline().split()[1:9]]
    except (OSError, ValueError):
        return None


def steal_share(before: list[int] | None, after: list[int] | None) -> float | None:
    """Share of CPU time the hypervisor gave to other guests between two readings: on a virtual
    machine the latency tail follows it, whatever the server does."""
    if before is None or after is None:
        return None
    spent = [b - a for a, b in zip(before, after, strict=True)]
    return round(spent[7] / max(1, sum(spent)), 4)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(
    artifacts: Path,
    workdir: Path,
    text_shortlist: bool,
    workers: int = 1,
    ranker: bool = True,
    database: str | None = None,
    settings: str = "",
    admin: bool = False,
    keys: str = "",
) -> tuple[subprocess.Popen[bytes], str]:
    """The real server on a free port; ``database``: a fresh SQLite file in ``workdir`` unless given;
    ``settings``: more TOML lines for its config; ``admin``: the key has the admin scope too;
    ``keys``: more ``[[api_keys]]`` tables."""
    port = free_port()
    scopes = ["read", "write", "admin"] if admin else ["read", "write"]
    config = workdir / "semrec.toml"
    config.write_text(
        f'artifacts = "{artifacts.resolve()}"\ndatabase = "{database or workdir / "bench.db"}"\n'
        f'log_level = "warning"\n{settings}'
        f"text_shortlist = {str(text_shortlist).lower()}\nranker = {str(ranker).lower()}\n"
        f"[[api_keys]]\nname = 'bench'\nkey = '{KEY}'\nscopes = {scopes}\n{keys}"
    )
    command = [sys.executable, "-m", "semrec.cli", "serve", "--config", str(config), "--port", str(port)]
    command += ["--workers", str(workers)]
    process = subprocess.Popen(command, env={**os.environ, "SEMREC_PROGRESS": "0"}, stdout=sys.stderr)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        try:
            answered = set()
            for _ in range(20 * workers):  # new connections until every worker has answered
                ready = httpx.get(f"{url}/readyz", timeout=1)
                if ready.status_code == 200:
                    answered.add(ready.json()["worker"])
            if len(answered) == workers:
                return process, url
            time.sleep(0.5)
        except httpx.TransportError:
            time.sleep(0.5)
        if process.poll() is not None:
            raise SystemExit("the server exited before it was ready")
    raise SystemExit("the server was not ready in 600 s")


def preload(url: str, data: Path, users: int, seed: int) -> tuple[list[str], list[str], list[str]]:
    """Posts the histories (all but the last two events) of ``users`` shoppers; returns (users,
    item ids, search queries from titles)."""
    from semrec.data.loader import load_dataset

    dataset = load_dataset(data)
    rng = random.Random(seed)
    chosen = rng.sample(range(dataset.n_users), min(users, dataset.n_users))
    item_ids = [str(i) for i in dataset.item_ids]
    sequences = dataset.sequences
    with httpx.Client(base_url=url, headers={"X-API-Key": KEY}, timeout=60) as client:
        batch: list[dict[str, Any]] = []
        for user in chosen:
            for item in sequences[user][:-2]:
                batch.append(
                    {"user_id": str(dataset.user_ids[user]), "item_id": item_ids[item], "type": "purchase"}
                )
            if len(batch) >= 500:
                client.post("/v1/events", json={"events": batch}).raise_for_status()
                batch = []
        if batch:
            client.post("/v1/events", json={"events": batch}).raise_for_status()
    titles = [str(t) for t in dataset.items["title"].fillna("") if str(t).strip()]
    queries = [" ".join(t.split()[:3]) for t in rng.sample(titles, 500)]
    return [str(dataset.user_ids[u]) for u in chosen], item_ids, queries


def get(host: str, path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: {host}\r\nX-API-Key: {KEY}\r\n\r\n".encode()


def post(host: str, path: str, body: dict[str, Any]) -> bytes:
    data = json.dumps(body).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nX-API-Key: {KEY}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
    )
    return head.encode() + data


async def _send(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> int:
    """One HTTP/1.1 request on a kept-alive connection; returns the status code."""
    writer.write(request)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    await reader.readexactly(length)
    return status


async def open_loop(
    url: str,
    requests: Sequence[bytes | tuple[bytes, bytes]],
    rate: float,
    seconds: float,
    connections: int = 32,
) -> dict[str, Any]:
    """Sends rate * seconds requests at fixed times over ``connections`` kept-alive connections (a
    lean client, so the generator is not the bottleneck); latency counts from each scheduled time.
    A pair (event post, read) sends the post at the scheduled time and the read once the post is
    acknowledged: the read's latency counts from then, the post's (under events_first) from the
    scheduled time."""
    total = int(rate * seconds)
    host, port = url.removeprefix("http://").split(":")
    latencies: list[float] = []
    first: list[float] = []
    errors: dict[str, int] = {}
    queue: asyncio.Queue[tuple[bytes | tuple[bytes, bytes], float]] = asyncio.Queue()

    async def worker() -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        while True:
            request, due = await queue.get()
            if not request:
                break
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            try:
                if isinstance(request, tuple):
                    status = await _send(reader, writer, request[0])
                    first.append(time.perf_counter() - due)
                    if status != 200:
                        errors[f"event {status}"] = errors.get(f"event {status}", 0) + 1
                    due, request = time.perf_counter(), request[1]
                status = await _send(reader, writer, request)
                if status != 200:
                    errors[str(status)] = errors.get(str(status), 0) + 1
            except (OSError, asyncio.IncompleteReadError) as error:
                errors[type(error).__name__] = errors.get(type(error).__name__, 0) + 1
                reader, writer = await asyncio.open_connection(host, int(port))
            latencies.append(time.perf_counter() - due)
        writer.close()

    warm_reader, warm_writer = await asyncio.open_connection(host, int(port))
    for warm in requests[:50]:  # caches warm, not timed
        for one in warm if isinstance(warm, tuple) else (warm,):
            await _send(warm_reader, warm_writer, one)
    warm_writer.close()
    start = time.perf_counter() + 0.2
    for i in range(total):
        queue.put_nowait((requests[i % len(requests)], start + i / rate))
    for _ in range(connections):
        queue.put_nowait((b"", 0.0))
    await asyncio.gather(*(worker() for _ in range(connections)))
    elapsed = time.perf_counter() - start
    edges = np.geomspace(0.25, 2000, 40)
    counts, _ = np.histogram(np.array(latencies) * 1000, bins=edges)
    return {
        "requests": total,
        "target_rps": rate,
        "achieved_rps": round(total / elapsed, 1),
        "errors": errors,
        **percentiles(latencies),
        **({"events_first": percentiles(first)} if first else {}),
        "histogram": {"edges_ms": [round(float(e), 4) for e in edges], "counts": counts.tolist()},
    }


async def with_events(
    url: str, reads: list[bytes], writes: list[bytes], args: argparse.Namespace
) -> dict[str, Any]:
    """The read load and, over other connections at the same time, the event posts."""
    read, write = await asyncio.gather(
        open_loop(url, reads, args.rate, args.seconds),
        open_loop(url, writes, args.events_rate, args.seconds, connections=16),
    )
    return {**read, "events_posted": {k: v for k, v in write.items() if k != "histogram"}}


def http_benchmark(args: argparse.Namespace, ranker: bool = True) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="semrec-bench-"))
    process, url = start_server(args.artifacts, workdir, args.text_shortlist, args.workers, ranker)
    host = url.removeprefix("http://")
    try:
        users, item_ids, queries = preload(url, args.data, args.users, args.seed)
        rng = random.Random(args.seed)
        paths = {
            "recommendations": [f"/v1/users/{quote(u, safe='')}/recommendations?k=10" for u in users],
            "similar": [f"/v1/items/{quote(i, safe='')}/similar?k=10" for i in rng.sample(item_ids, 2000)],
            "search": [f"/v1/search?q={quote_plus(q)}&k=10" for q in queries],
        }
        paths["recommendations_with_events"] = paths["recommendations"]
        # one view by one of the loaded shoppers per post, each durable before it is acknowledged
        views = [
            post(
                host,
                "/v1/events",
                {"events": [{"user_id": u, "item_id": rng.choice(item_ids), "type": "view"}]},
            )
            for u in rng.choices(users, k=2000)
        ]
        # a new event of the shopper before each of their requests: no cached list can answer
        own = [
            (
                post(
                    host,
                    "/v1/events",
                    {"events": [{"user_id": u, "item_id": rng.choice(item_ids), "type": "view"}]},
                ),
                get(host, f"/v1/users/{quote(u, safe='')}/recommendations?k=10"),
            )
            for u in rng.choices(users, k=4000)
        ]
        paths["recommendations_after_own_event"] = []
        out = {}
        rates = {"recommendations": args.rate, "similar": args.rate, "search": args.search_rate}
        for name, route in paths.items():
            if name not in args.routes.split(","):
                continue
            rng.shuffle(route)
            requests: list[bytes | tuple[bytes, bytes]] = [get(host, path) for path in route]
            before = cpu_counters()
            if name == "recommendations_after_own_event":
                out[name] = asyncio.run(open_loop(url, own, args.rate, args.seconds))
            elif name == "recommendations_with_events":
                out[name] = asyncio.run(with_events(url, requests, views, args))  # type: ignore[arg-type]
            else:
                out[name] = asyncio.run(open_loop(url, requests, rates[name], args.seconds))
            out[name]["cpu_steal_share"] = steal_share(before, cpu_counters())
            print(name, out[name], file=sys.stderr, flush=True)
        return out
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)


def repeated(passes: list[list[float]], steals: list[float | None]) -> dict[str, Any]:
    """Figures of repeated passes over the same shoppers: whether the slow requests are the same
    shoppers each time (work that some histories need) or different ones (the machine)."""
    times = np.array(passes)
    slowest = [set(np.argsort(-row)[:20].tolist()) for row in times]
    return {
        "recommend_passes": [
            {**percentiles(row), "cpu_steal_share": share} for row, share in zip(passes, steals, strict=True)
        ],
        "slowest_20_shared_by_consecutive_passes": [len(a & b) for a, b in itertools.pairwise(slowest)],
        "recommend_fastest_of_passes": percentiles(times.min(axis=0).tolist()),
    }


def in_process_benchmark(args: argparse.Namespace, ranker: bool = True) -> dict[str, Any]:
    import torch

    from semrec.online.collector import settle
    from semrec.online.engine import Engine
    from semrec.online.index import VectorIndex
    from semrec.online.runtime import ModelRuntime
    from semrec.online.seed import prepare_store
    from semrec.schema import Event, Item
    from semrec.settings import ServerSettings
    from semrec.store.sqlite import SQLiteStore

    torch.set_num_threads(1)
    workdir = Path(tempfile.mkdtemp(prefix="semrec-bench-"))
    settings = ServerSettings(
        artifacts=args.artifacts,
        database=workdir / "inproc.db",
        text_shortlist=args.text_shortlist,
        ranker=ranker,
    )
    runtime = ModelRuntime(args.artifacts, ranker=ranker)
    store = SQLiteStore(settings.database)
    engine = Engine(settings, store, runtime, prepare_store(store, runtime, settings))
    rng = np.random.default_rng(args.seed)
    base = engine.catalog.rec.array.copy()
    base_text = engine.catalog.text.array.copy()
    extra = args.items - engine.catalog.rows
    started = time.perf_counter()
    scale = float(np.std(base))
    chunk = 100_000
    for start in range(0, extra, chunk):
        n = min(chunk, extra - start)
        source = rng.integers(0, len(base), n)
        vectors = base[source] + rng.normal(0, 0.5 * scale, (n, base.shape[1])).astype(np.float32)
        # text vectors near a real title's (unit length, as the encoder gives): the text shortlist
        # that lmrec's text-affinity term adds searches a million items too
        text = base_text[source] + rng.normal(0, 0.02, (n, base_text.shape[1])).astype(np.float32)
        text /= np.linalg.norm(text, axis=1, keepdims=True)
        metas = [Item(f"synthetic-{start + i}", f"synthetic item {start + i}") for i in range(n)]
        engine.catalog.append(metas, vectors, text, np.zeros(n))
    grow_seconds = time.perf_counter() - started
    started = time.perf_counter()
    engine._index("rec")
    build_seconds = time.perf_counter() - started
    if settings.text_shortlist and runtime.uses_text:
        engine._index("text")  # built before timing, as a server builds its indexes at start-up
    settle()  # as the server does once its engine is built
    # shoppers: real histories from the dataset
    from semrec.data.loader import load_dataset

    dataset = load_dataset(args.data)
    chosen = rng.choice(dataset.n_users, min(dataset.n_users, args.queries + WARM_UP), replace=False)
    warm, users = chosen[:WARM_UP], chosen[WARM_UP:]
    item_ids = [str(i) for i in dataset.item_ids]
    for user in chosen:
        events = [Event(engine.user_key(f"u{user}"), item_ids[i], "purchase", float(t)) for t, i in
                  enumerate(dataset.sequences[user][:-2])]  # fmt: skip
        engine.store.add_events(events)
    for user in warm:  # other shoppers than the timed ones: nothing timed comes from a cache
        engine.recommend(f"u{user}", 10)
    passes, steals = [], []
    stage = runtime.ranker
    # with a ranker: each pass twice, ranker off then on, over the same shoppers (side by side)
    modes = (None, stage) if stage is not None else (None,)
    by_mode: dict[str, list[list[float]]] = {"off": [], "on": []}
    for _ in range(args.passes):  # each pass asks every shopper once, nothing cached from before
        for mode in modes:
            runtime.ranker = mode
            engine._answers.clear()
            engine._queries.clear()
            latencies = []
            before = cpu_counters()
            for user in users:
                begin = time.perf_counter()
                engine.recommend(f"u{user}", 10)
                latencies.append(time.perf_counter() - begin)
            by_mode["on" if mode is not None else "off"].append(latencies)
        passes.append(latencies)
        steals.append(steal_share(before, cpu_counters()))
    runtime.ranker = stage
    latencies, steal = passes[0], steals[0]
    ranker_figures: dict[str, Any] = {}
    if stage is not None:
        off, on = np.min(by_mode["off"], axis=0), np.min(by_mode["on"], axis=0)  # fastest of passes
        ranker_figures = {
            "ranker_candidates": stage.n_candidates,
            "recommend_ranker_off": percentiles(off.tolist()),
            "recommend_ranker_on": percentiles(on.tolist()),
            "ranker_added_p99_ms": round(float(np.percentile(on, 99) - np.percentile(off, 99)) * 1000, 3),
            "ranker_added_per_request_p99_ms": round(float(np.percentile(on - off, 99)) * 1000, 3),
        }
    # recall of the index against exact inner-product search over the same million vectors
    histories = [
        np.array([engine.catalog.live_row(e.item_id) for e in engine.history(f"u{u}")]) for u in users
    ]
    queries = runtime.queries(histories, engine.catalog.rec.array)
    exact = VectorIndex(queries.shape[1], "exact")
    exact.add(engine.catalog.rec.array)
    _, truth = exact.search(queries, 10)
    _, approx = engine._index("rec").search(queries, 10)
    recall = float(np.mean([len(set(t) & set(a)) / 10 for t, a in zip(truth, approx, strict=True)]))
    timing = []
    for query in queries:
        begin = time.perf_counter()
        engine._index("rec").search(query, 10)
        timing.append(time.perf_counter() - begin)
    items = engine.catalog.rows
    # one new item into the catalog and the indexes built, as PUT /v1/items does after embedding it
    adding = []
    for i in range(200):
        begin = time.perf_counter()
        meta = Item(f"added-{i}", f"added item {i}")
        engine.add_to_catalog(meta, base[i : i + 1], base_text[i : i + 1])
        adding.append(time.perf_counter() - begin)
    return {
        "items": items,
        "model": runtime.version,
        "dim": runtime.dim,
        "text_shortlist": settings.text_shortlist and runtime.uses_text,
        "grow_seconds": round(grow_seconds, 1),
        "hnsw_build_seconds": round(build_seconds, 1),
        "recommend": percentiles(latencies),
        **ranker_figures,
        "cpu_steal_share": steal,
        **(repeated(passes, steals) if len(passes) > 1 else {}),
        "hnsw_search": percentiles(timing),
        "recall@10_vs_exact": round(recall, 4),
        "add_one_item": percentiles(adding),
        "index_settings": {
            "m": settings.hnsw_m,
            "ef_construction": settings.hnsw_ef_construction,
            "ef_search": settings.hnsw_ef_search,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--artifacts", type=Path, required=True)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "datasets" / "amazon-beauty")
    parser.add_argument("--rate", type=float, default=300.0)
    parser.add_argument("--search-rate", type=float, default=60.0, help="search embeds each query: CPU-bound")
    parser.add_argument(
        "--events-rate",
        type=float,
        default=100.0,
        help="event posts per second in recommendations_with_events",
    )
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--passes",
        type=int,
        default=1,
        help="in process: ask the same shoppers this many times (caches cleared)",
    )
    parser.add_argument(
        "--routes",
        default="recommendations,similar,search,recommendations_with_events",
        help="HTTP loads to run, comma-separated",
    )
    parser.add_argument("--workers", type=int, default=1, help="server processes (semrec serve --workers)")
    parser.add_argument("--skip-http", action="store_true")
    parser.add_argument("--skip-in-process", action="store_true")
    parser.add_argument(
        "--text-shortlist", action="store_true", help="lmrec: also shortlist by text (server setting)"
    )
    parser.add_argument(
        "--ranker-off-too",
        action="store_true",
        help="HTTP loads also on a server with the ranking stage off (in process, each pass runs "
        "off and on whenever the artifacts carry a ranker)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object of all figures")
    args = parser.parse_args()
    unknown = set(args.routes.split(",")) - set(ROUTES)
    if unknown:
        parser.error(f"--routes: unknown {sorted(unknown)}; choose from {list(ROUTES)}")
    result: dict[str, Any] = {"machine": machine(), "artifacts": str(args.artifacts), "workers": args.workers}
    if not args.skip_http:
        if args.ranker_off_too:  # the same loads on a server with the ranking stage switched off
            result["http_ranker_off"] = http_benchmark(args, ranker=False)
        result["http"] = http_benchmark(args)
    if not args.skip_in_process:
        result["in_process"] = in_process_benchmark(args)
        print("in process", result["in_process"], file=sys.stderr, flush=True)
    print(json.dumps(result, indent=None if args.json else 2))


if __name__ == "__main__":
    main()
