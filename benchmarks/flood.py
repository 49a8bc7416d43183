"""One key floods, another keeps its pace: the calm key's latency with and without the flood.

    python benchmarks/flood.py --artifacts DIR [--rate 100] [--seconds 30] [--flooders 8] [--out ...]

Starts `semrec serve` with two keys and its default rate limits. The calm key asks for
recommendations open-loop at --rate per second (latency from each scheduled time) twice: alone, then
while --flooders connections of the flooding key send requests back to back, as fast as the server
answers (most of them refused with 429 once the key's bucket is empty). Both passes in one run.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from serving import ROOT, _send, get, machine, open_loop, preload, start_server, write_result

FLOOD_KEY = "flood-key"


async def flood(url: str, paths: list[str], seconds: float, connections: int) -> dict[str, int]:
    host, port = url.removeprefix("http://").split(":")
    counts: dict[str, int] = {}
    deadline = time.perf_counter() + seconds

    async def one(n: int) -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        i = n
        while time.perf_counter() < deadline:
            request = get(url.removeprefix("http://"), paths[i % len(paths)]).replace(
                b"X-API-Key: bench-key", f"X-API-Key: {FLOOD_KEY}".encode()
            )
            status = await _send(reader, writer, request)
            counts[str(status)] = counts.get(str(status), 0) + 1
            i += connections
        writer.close()

    await asyncio.gather(*(one(n) for n in range(connections)))
    return counts


async def both(
    url: str, calm: list[bytes], paths: list[str], args: Any
) -> tuple[dict[str, Any], dict[str, int]]:
    measured, flooded = await asyncio.gather(
        open_loop(url, calm, args.rate, args.seconds), flood(url, paths, args.seconds + 1, args.flooders)
    )
    return measured, flooded


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--artifacts", type=Path, required=True)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "datasets" / "amazon-beauty")
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--flooders", type=int, default=8)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="semrec-flood-"))
    extra = f"\n[[api_keys]]\nname = 'flood'\nkey = '{FLOOD_KEY}'\nscopes = ['read']\n"
    process, url = start_server(args.artifacts, workdir, text_shortlist=True, keys=extra)
    try:
        users, _, _ = preload(url, args.data, args.users, args.seed)
        rng = random.Random(args.seed)
        paths = [f"/v1/users/{quote(u, safe='')}/recommendations?k=10" for u in users]
        rng.shuffle(paths)
        host = url.removeprefix("http://")
        calm = [get(host, p) for p in paths]
        alone = asyncio.run(open_loop(url, calm, args.rate, args.seconds))
        flooded, flood_counts = asyncio.run(both(url, calm, paths, args))
    finally:
        process.terminate()
        process.wait(timeout=60)
    for result in (alone, flooded):
        result.pop("histogram", None)
    write_result(
        {
            "benchmark": "flood",
            "artifacts": str(args.artifacts),
            "machine": machine(),
            "settings": {k: str(v) for k, v in vars(args).items()},
            "calm_alone": alone,
            "calm_under_flood": flooded,
            "flood_answers": flood_counts,
            "p99_ratio": round(flooded["p99_ms"] / alone["p99_ms"], 3),
        },
        args.out,
    )


if __name__ == "__main__":
    main()
