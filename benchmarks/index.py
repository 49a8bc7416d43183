"""Vector index trade-offs, side by side on the same vectors and queries: exact, HNSW, IVF-SQ8, IVF-PQ.

usage: python benchmarks/index.py --artifacts DIR [--sizes 100000,1000000] [--queries 1000] [--json]

Vectors: the artifacts' item vectors, grown to each size by adding noise to copies (so the
distribution stays that of real items). Queries: query vectors of real amazon-beauty shoppers.
Scores are inner products, as the server ranks. Search runs on one thread.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import faiss
import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def grow(base: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    scale = float(np.std(base))
    out = np.empty((size, base.shape[1]), dtype=np.float32)
    out[: min(size, len(base))] = base[:size]
    for start in range(len(base), size, 200_000):
        n = min(200_000, size - start)
        source = rng.integers(0, len(base), n)
        out[start : start + n] = base[source] + rng.normal(0, 0.5 * scale, (n, base.shape[1]))
    return out


def shopper_queries(artifacts: Path, data: Path, count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from semrec.data.loader import load_dataset
    from semrec.online.runtime import ModelRuntime

    runtime = ModelRuntime(artifacts, device="cpu")
    dataset = load_dataset(data)
    rng = np.random.default_rng(seed)
    users = rng.choice(dataset.n_users, count, replace=False)
    histories = [np.asarray(dataset.sequences[u][:-1]) for u in users]
    return runtime.queries(histories, runtime.item_vectors), runtime.item_vectors


def measure(index: faiss.Index, queries: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    faiss.omp_set_num_threads(1)
    times = []
    found = np.zeros((len(queries), 10), dtype=np.int64)
    for i, query in enumerate(queries):
        begin = time.perf_counter()
        _, rows = index.search(query[None], 10)
        times.append((time.perf_counter() - begin) * 1000)
        found[i] = rows[0]
    recall = float(np.mean([len(set(t) & set(f)) / 10 for t, f in zip(truth, found, strict=True)]))
    return {
        "recall@10": round(recall, 4),
        "p50_ms": round(float(np.percentile(times, 50)), 4),
        "p99_ms": round(float(np.percentile(times, 99)), 4),
    }


def candidates(dim: int, size: int) -> dict[str, tuple[faiss.Index, dict[str, Any]]]:
    lists = max(64, int(4 * np.sqrt(size)))
    out: dict[str, tuple[faiss.Index, dict[str, Any]]] = {}
    hnsw = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
    hnsw.hnsw.efConstruction = 100
    out["hnsw32"] = (hnsw, {"efSearch": [32, 64, 128, 256]})
    sq8 = faiss.IndexIVFScalarQuantizer(
        faiss.IndexFlatIP(dim), dim, lists, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT
    )
    out[f"ivf{lists}-sq8"] = (sq8, {"nprobe": [8, 16, 32, 64]})
    pq = faiss.IndexIVFPQ(faiss.IndexFlatIP(dim), dim, lists, dim // 2, 8, faiss.METRIC_INNER_PRODUCT)
    out[f"ivf{lists}-pq{dim // 2}"] = (pq, {"nprobe": [8, 16, 32, 64]})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--artifacts", type=Path, required=True)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "datasets" / "amazon-beauty")
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    queries, base = shopper_queries(args.artifacts, args.data, args.queries, args.seed)
    rng = np.random.default_rng(args.seed)
    results: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "faiss": faiss.__version__},
        "artifacts": str(args.artifacts),
        "dim": int(base.shape[1]),
        "sizes": {},
    }
    for size in (int(s) for s in args.sizes.split(",")):
        vectors = grow(base, size, rng)
        faiss.omp_set_num_threads(os.cpu_count() or 1)
        exact = faiss.IndexFlatIP(vectors.shape[1])
        exact.add(vectors)
        _, truth = exact.search(queries, 10)
        rows: dict[str, Any] = {"exact": {**measure(exact, queries, truth), "build_s": 0.0,
                                          "bytes_per_item": vectors.shape[1] * 4}}  # fmt: skip
        for name, (index, knobs) in candidates(vectors.shape[1], size).items():
            faiss.omp_set_num_threads(os.cpu_count() or 1)
            begin = time.perf_counter()
            if not index.is_trained:
                index.train(vectors[rng.choice(size, min(size, 100_000), replace=False)])
            index.add(vectors)
            build = time.perf_counter() - begin
            per_item = faiss.serialize_index(index).nbytes / size
            for knob, values in knobs.items():
                for value in values:
                    if knob == "efSearch":
                        faiss.ParameterSpace().set_index_parameter(index, "efSearch", value)
                    else:
                        faiss.extract_index_ivf(index).nprobe = value
                    rows[f"{name} {knob}={value}"] = {
                        **measure(index, queries, truth),
                        "build_s": round(build, 1),
                        "bytes_per_item": round(per_item, 1),
                    }
                    print(
                        size, name, knob, value, rows[f"{name} {knob}={value}"], file=sys.stderr, flush=True
                    )
        results["sizes"][str(size)] = rows
    print(json.dumps(results, indent=None if args.json else 2))


if __name__ == "__main__":
    main()
