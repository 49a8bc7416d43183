"""Soak: the real server under a steady open-loop load, with events beside, for minutes on end.

    python benchmarks/soak.py --artifacts DIR [--data ../shared/datasets/amazon-beauty]
        [--minutes 10] [--rate 200] [--events-share 0.1] [--out results/soak.json]

Starts `semrec serve` on a loopback port with a fresh SQLite database, loads the histories of
--users shoppers, then, minute after minute, sends --rate requests per second at fixed times
(recommendations, similar products and search, and --events-share of them posts of one to three
events of a loaded shopper, each kept alive connection waiting its turn; latency counts from each
request's scheduled time). After every minute it records that minute's latency percentiles and
errors, and the server's resident memory (VmRSS, sampled every 5 s). Memory growth is measured
from the end of the first (warm-up) minute to the end of the run.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

from serving import ROOT, get, machine, open_loop, post, preload, start_server, write_result


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def requests(url: str, users: list[str], items: list[str], queries: list[str], args: Any) -> list[bytes]:
    """A shuffled mix: half recommendations, a quarter similar, a tenth search, the rest events."""
    host = url.removeprefix("http://")
    rng = random.Random(args.seed)
    mix: list[bytes] = []
    for _ in range(20_000):
        pick = rng.random()
        if pick < args.events_share:
            user = rng.choice(users)
            events = [
                {"user_id": user, "item_id": rng.choice(items), "type": rng.choice(["view", "click", "cart"])}
                for _ in range(rng.randint(1, 3))
            ]
            mix.append(post(host, "/v1/events", {"events": events}))
        elif pick < args.events_share + 0.5:
            mix.append(get(host, f"/v1/users/{quote(rng.choice(users), safe='')}/recommendations?k=10"))
        elif pick < args.events_share + 0.8:
            mix.append(get(host, f"/v1/items/{quote(rng.choice(items), safe='')}/similar?k=10"))
        else:
            mix.append(get(host, f"/v1/search?q={quote_plus(rng.choice(queries))}&k=10"))
    return mix


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--artifacts", type=Path, required=True)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "datasets" / "amazon-beauty")
    parser.add_argument("--minutes", type=int, default=10)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--events-share", type=float, default=0.1)
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="semrec-soak-"))
    process, url = start_server(args.artifacts, workdir, text_shortlist=True)
    samples: list[tuple[float, int]] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(5.0):
            samples.append((time.monotonic(), rss_bytes(process.pid)))

    try:
        users, items, queries = preload(url, args.data, args.users, args.seed)
        mix = requests(url, users, items, queries, args)
        sampler = threading.Thread(target=sample, daemon=True)
        started = time.monotonic()
        sampler.start()
        minutes: list[dict[str, Any]] = []
        for minute in range(args.minutes):
            offset = minute * int(args.rate * 60)
            window = mix[offset % len(mix) :] + mix[: offset % len(mix)]
            result = asyncio.run(open_loop(url, window, args.rate, 60.0))
            result.pop("histogram", None)
            result["minute"] = minute + 1
            result["rss_mib"] = round(rss_bytes(process.pid) / 2**20, 1)
            minutes.append(result)
            print(result, flush=True)
        stop.set()
    finally:
        stop.set()
        process.terminate()
        process.wait(timeout=60)
    warm = minutes[0]["rss_mib"]
    errors = sum(sum(m["errors"].values()) for m in minutes)
    result = {
        "benchmark": "soak",
        "dataset": args.data.resolve().name,
        "artifacts": str(args.artifacts),
        "machine": machine(),
        "settings": {k: str(v) for k, v in vars(args).items()},
        "minutes": minutes,
        "rss_mib_every_5s": [[round(t - started, 1), round(rss / 2**20, 1)] for t, rss in samples],
        "summary": {
            "requests": sum(m["requests"] for m in minutes),
            "errors": errors,
            "rss_mib_after_warm_up": warm,
            "rss_mib_at_end": minutes[-1]["rss_mib"],
            "rss_growth_after_warm_up": round(minutes[-1]["rss_mib"] / warm - 1, 4),
            "p99_ms_by_minute": [m["p99_ms"] for m in minutes],
        },
    }
    write_result(result, args.out)


if __name__ == "__main__":
    main()
