"""Sharded item index on Ray: build time, memory per item, recall@10 and per-query latency against the
number of shards, on synthetic vectors shaped like item vectors.

usage: python benchmarks/sharded_index.py [--items 1000000] [--dim 384] [--shards 1,2,4]
       [--kind ivf-sq8] [--nprobe 32] [--queries 300] [--out FILE]

Vectors: unit vectors in clusters (one centre per 500 items, noise of 0.4 per dimension around it,
as items of one kind sit close), generated chunk by chunk from fixed seeds, so the catalog never has
to fit in memory as float32; queries are drawn the same way. Exact top 10 of each query over all
items is computed chunk by chunk first (the recall reference). For each shard count: a local Ray
cluster of this machine's cores, the items added in chunks (each shard trains its IVF lists on its
first chunk), then every query alone (batch 1, as a request asks) through scatter-gather.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from semrec.distributed.cluster import connect
from semrec.distributed.sharded_index import ShardedIndex, merge_top_k
from serving import machine, percentiles, write_result

CHUNK = 250_000


def centres(items: int, dim: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.normal(size=(max(items // 500, 1), dim)).astype(np.float32)


def unit(points: np.ndarray) -> np.ndarray:
    return (points / np.linalg.norm(points, axis=1, keepdims=True)).astype(np.float32)


def chunks(items: int, dim: int, middle: np.ndarray) -> Iterator[np.ndarray]:
    for number, start in enumerate(range(0, items, CHUNK)):
        rng = np.random.default_rng(1 + number)
        n = min(CHUNK, items - start)
        picks = middle[rng.integers(0, len(middle), n)]
        yield unit(picks + 0.4 * rng.normal(size=(n, dim)).astype(np.float32))


def exact_top(queries: np.ndarray, items: int, dim: int, middle: np.ndarray, k: int = 10) -> np.ndarray:
    best_scores, best_rows = [], []
    offset = 0
    for chunk in chunks(items, dim, middle):
        scores = queries @ chunk.T
        top = np.argpartition(-scores, k, axis=1)[:, :k]
        best_scores.append(np.take_along_axis(scores, top, axis=1))
        best_rows.append(top + offset)
        offset += len(chunk)
        merged = merge_top_k(best_scores, best_rows, k)
        best_scores, best_rows = [merged[0]], [merged[1]]
    return best_rows[0]


def run(
    args: argparse.Namespace, shards: int, queries: np.ndarray, truth: np.ndarray, middle: np.ndarray
) -> dict[str, Any]:
    cores = os.cpu_count() or 1
    index = ShardedIndex(
        args.dim, shards, args.kind, cpus_per_shard=min(1.0, cores / shards), nprobe=args.nprobe
    )
    try:
        started = time.perf_counter()
        for chunk in chunks(args.items, args.dim, middle):
            index.add(chunk)
        build = time.perf_counter() - started
        for q in queries[:20]:  # warm-up
            index.search(q[None, :], 10)
        latencies, found = [], []
        for q in queries:
            began = time.perf_counter()
            _, rows = index.search(q[None, :], 10)
            latencies.append(time.perf_counter() - began)
            found.append(rows[0])
        recall = float(np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth, strict=True)]))
        began = time.perf_counter()
        index.search(queries, 10)
        batch = time.perf_counter() - began
        memory = index.memory_bytes()
    finally:
        index.close()
    row = {
        "shards": shards,
        "items": args.items,
        "build_s": round(build, 1),
        "bytes_per_item": round(memory / args.items, 1),
        "recall_at_10": round(recall, 4),
        "queries_per_s_batch": round(len(queries) / batch, 1),
        **percentiles(latencies),
    }
    print(json.dumps(row), file=sys.stderr)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--shards", default="1,2,4", type=lambda s: [int(x) for x in s.split(",")])
    parser.add_argument("--kind", default="ivf-sq8", choices=["ivf-sq8", "hnsw", "exact"])
    parser.add_argument("--nprobe", type=int, default=32)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    middle = centres(args.items, args.dim)
    rng = np.random.default_rng(10**6)
    queries = unit(
        middle[rng.integers(0, len(middle), args.queries)] + 0.4 * rng.normal(size=(args.queries, args.dim))
    )
    started = time.perf_counter()
    truth = exact_top(queries, args.items, args.dim, middle)
    print(f"exact reference in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    connect(num_cpus=os.cpu_count())
    rows = [run(args, shards, queries, truth, middle) for shards in args.shards]
    result = {
        "benchmark": "sharded-index",
        "vectors": "synthetic: unit vectors, one cluster centre per 500 items, noise 0.4 per dimension",
        "items": args.items,
        "dim": args.dim,
        "kind": args.kind,
        "nprobe": args.nprobe,
        "queries": args.queries,
        "machine": machine(),
        "results": rows,
    }
    write_result(result, args.out)


if __name__ == "__main__":
    main()
