"""Catalog embedding here and on Ray Data: texts per second at 1 and 2 Ray workers beside the local
encoder, and how far the Ray vectors are from the local ones.

usage: python benchmarks/ray_embed.py [--data ../shared/datasets/amazon-beauty] [--workers 1,2] [--out FILE]

Runs `semrec embed` (the real command) once locally and once per worker count with --ray (each on a
local Ray cluster of this machine's cores, started by the command), in fresh processes, and reads
what each wrote. Each Ray worker is an actor with one thread; the local run uses every core.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from serving import machine, write_result

ROOT = Path(__file__).resolve().parents[1]


def run(data: Path, out: Path, extra: list[str]) -> dict[str, Any]:
    command = [sys.executable, "-m", "semrec.cli", "embed", "--data", str(data), "--out", str(out), *extra]
    subprocess.run(command, check=True, env={**os.environ, "HF_HUB_OFFLINE": "1", "SEMREC_PROGRESS": "0"})
    report: dict[str, Any] = json.loads((out / "embed.json").read_text())
    return report


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "datasets" / "amazon-beauty")
    parser.add_argument("--workers", default="1,2", type=lambda s: [int(x) for x in s.split(",")])
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="semrec-embed-") as folder:
        local_dir = Path(folder) / "local"
        rows.append({"run": "local", **run(args.data, local_dir, [])})
        local = np.load(local_dir / "vectors.npy")
        for workers in args.workers:
            there = Path(folder) / f"ray-{workers}"
            row = {
                "run": f"ray x{workers}",
                **run(args.data, there, ["--ray", "--ray-workers", str(workers)]),
            }
            vectors = np.load(there / "vectors.npy")
            cosine = np.sum(local * vectors, axis=1) / (
                np.linalg.norm(local, axis=1) * np.linalg.norm(vectors, axis=1)
            )
            row.update(
                min_cosine_to_local=round(float(cosine.min()), 6),
                mean_cosine_to_local=round(float(cosine.mean()), 6),
            )
            rows.append(row)
    result = {"benchmark": "ray-embed", "dataset": args.data.name, "machine": machine(), "results": rows}
    write_result(result, args.out)


if __name__ == "__main__":
    main()
