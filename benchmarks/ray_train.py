"""Training here and under Ray Train: validation NDCG@10 and wall time of one process against
N Ray Train workers (each its share of every batch, gradients summed), same data, seed and settings.

usage: python benchmarks/ray_train.py [--data ../shared/datasets/amazon-beauty] [--model sasrec]
       [--param epochs=3 ...] [--workers 2] [--out FILE]

Runs `semrec train` (the real command) in fresh processes, locally and with --ray-workers N, and
reads the validation metrics each saved in its artifacts' config.json (split: valid).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from serving import machine, write_result

ROOT = Path(__file__).resolve().parents[1]


def train(args: argparse.Namespace, out: Path, extra: list[str]) -> dict[str, Any]:
    params = [arg for p in args.param for arg in ("--param", p)]
    command = [sys.executable, "-m", "semrec.cli", "train", "--data", str(args.data), "--model", args.model,
               "--out", str(out), *params, *extra]  # fmt: skip
    started = time.perf_counter()
    subprocess.run(command, check=True, env={**os.environ, "HF_HUB_OFFLINE": "1", "SEMREC_PROGRESS": "0"})
    seconds = time.perf_counter() - started
    metrics = json.loads((out / "config.json").read_text())["metrics"]
    return {
        "seconds": round(seconds, 1),
        "valid_ndcg@10": metrics["ndcg@10"],
        "valid_hr@10": metrics["hr@10"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "datasets" / "amazon-beauty")
    parser.add_argument("--model", default="sasrec")
    parser.add_argument("--param", action="append", default=[])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    args.param = args.param or ["epochs=3", "eval_every=1000", "ranker=0"]
    with tempfile.TemporaryDirectory(prefix="semrec-ray-train-") as folder:
        local = train(args, Path(folder) / "local", [])
        ray = train(args, Path(folder) / "ray", ["--ray-workers", str(args.workers)])
        vectors = [np.load(Path(folder) / n / "item_vectors.npy") for n in ("local", "ray")]
    result = {
        "benchmark": "ray-train",
        "dataset": args.data.name,
        "protocol": "loo (validation split)",
        "model": args.model,
        "params": args.param,
        "machine": machine(),
        "local": local,
        f"ray_train_x{args.workers}": ray,
        "max_abs_item_vector_difference": round(float(np.abs(vectors[0] - vectors[1]).max()), 6),
    }
    write_result(result, args.out)


if __name__ == "__main__":
    main()
