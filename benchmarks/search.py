"""Known-item search on a real catalog: does `search` find the product a shopper has in mind?

usage: python benchmarks/search.py --artifacts A [--queries 500] [--seed 0] [--out results.json]

Serves the artifacts' catalog (the engine, in process, over a fresh SQLite database) and, for
``--queries`` products drawn at random (seeded) among those whose title has four or more words,
asks `search` (k = 10) three kinds of query a shopper types:
- ``words``: three distinct words of the title, in random order;
- ``brand+word``: the brand and one other word of the title (products with a brand only);
- ``head``: the first half of the title, as typed so far.
It reports, per kind, HR@1, HR@10 and MRR@10 of the product itself, and the median and p99 time
of one search (one thread). The draw depends on the seed only, so two checkouts of the code are
compared on the same queries; the JSON written to --out holds every figure and the machine.
"""

from __future__ import annotations

import argparse
import re
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from semrec.hardware import cpu_info

WORD = re.compile(r"[^\W_]+(?:-[^\W_]+)*", re.UNICODE)


def queries_for(title: str, brand: str, rng: np.random.Generator) -> dict[str, str]:
    words = list(dict.fromkeys(WORD.findall(title)))
    out = {"words": " ".join(rng.permutation(words)[:3].tolist())}
    others = [w for w in words if w.lower() not in brand.lower().split()]
    if brand and others:
        out["brand+word"] = f"{brand} {others[int(rng.integers(len(others)))]}"
    out["head"] = " ".join(title.split()[: max(2, len(title.split()) // 2)])
    return out


def main() -> None:
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=raw)
    parser.add_argument("--artifacts", type=Path, required=True)
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    import torch

    from semrec.evaluation.runner import write_results
    from semrec.online.engine import Engine
    from semrec.online.runtime import ModelRuntime
    from semrec.online.seed import prepare_store
    from semrec.settings import ServerSettings
    from semrec.store.sqlite import SQLiteStore

    torch.set_num_threads(1)
    settings = ServerSettings(artifacts=args.artifacts, database=Path(tempfile.mkdtemp()) / "search.db")
    runtime = ModelRuntime(args.artifacts)
    store = SQLiteStore(settings.database)
    engine = Engine(settings, store, runtime, prepare_store(store, runtime, settings))
    rng = np.random.default_rng(args.seed)
    catalog = sorted(store.all_items(), key=lambda item: item.item_id)  # the same draw on any code
    eligible = [item for item in catalog if len(WORD.findall(item.title)) >= 4]
    picks = rng.choice(len(eligible), size=min(args.queries, len(eligible)), replace=False)
    drawn = [eligible[i] for i in picks]
    ranks: dict[str, list[int | None]] = {}
    seconds: list[float] = []
    for item in drawn:
        for kind, query in queries_for(item.title, item.brand, rng).items():
            started = time.perf_counter()
            results = engine.search(query, 10)
            seconds.append(time.perf_counter() - started)
            found = [engine.catalog.meta[r.row].item_id for r in results]
            rank = found.index(item.item_id) + 1 if item.item_id in found else None
            ranks.setdefault(kind, []).append(rank)
    figures: dict[str, Any] = {}
    for kind, values in ranks.items():
        figures[kind] = {
            "queries": len(values),
            "hr@1": round(float(np.mean([r == 1 for r in values])), 4),
            "hr@10": round(float(np.mean([r is not None for r in values])), 4),
            "mrr@10": round(float(np.mean([1 / r if r else 0.0 for r in values])), 4),
        }
        print(f"{kind:>10}: {figures[kind]}")
    timing = {"p50_ms": round(1000 * float(np.median(seconds)), 2)}
    timing["p99_ms"] = round(1000 * float(np.quantile(seconds, 0.99)), 2)
    print(f"one search: {timing}")
    result = {
        "benchmark": "known-item search",
        "artifacts": str(args.artifacts),
        "catalog_items": len(catalog),
        "seed": args.seed,
        "figures": figures,
        "timing": timing,
        "machine": cpu_info(),
    }
    if args.out is not None:
        write_results(result, args.out)


if __name__ == "__main__":
    main()
