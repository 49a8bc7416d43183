"""Runs models on a dataset under the full-ranking protocol and prints a Markdown table of the results.

usage: python benchmarks/accuracy.py [--data ../shared/datasets/amazon-beauty] [--split test]
       [--models popularity,itemknn,text-zeroshot] [--out-dir benchmarks/results] [--protocol loo]

A model may carry settings after a colon: --models "lmrec:hybrid=false+dim=128,sasrec".

Each model's results.json is written to --out-dir; the table adds the command that reproduces each row.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from pathlib import Path

from semrec.evaluation.runner import RunSpec, run_evaluation, write_results

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "datasets" / "amazon-beauty")
    parser.add_argument("--split", default="test", choices=["test", "valid"])
    parser.add_argument("--models", default="popularity,itemknn,text-zeroshot")
    parser.add_argument("--out-dir", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--protocol", default="loo", choices=["loo", "time", "cold-items"])
    args = parser.parse_args()
    rows = []
    for entry in args.models.split(","):
        name, _, raw = entry.partition(":")
        params = dict(p.split("=", 1) for p in raw.split("+") if p)
        spec = RunSpec(data=args.data, model=name, split=args.split, params=params, protocol=args.protocol)
        document, _, dataset = run_evaluation(spec)
        tag = entry.replace(":", "-").replace("+", "-").replace("=", "")
        write_results(document, args.out_dir / f"{dataset.name}-{args.protocol}-{tag}-{args.split}.json")
        m = document["metrics"]
        seconds = document["wall_time_seconds"]
        rows.append(
            f"| {entry} | {m['hr@10']:.4f} | {m['ndcg@10']:.4f} | {m['hr@20']:.4f} | {m['ndcg@20']:.4f} "
            f"| {m['coverage@10']:.3f} | {seconds['fit']:.0f} s | "
            f"`semrec evaluate --data {os.path.relpath(args.data, ROOT)} --model {name} "
            f"--split {args.split} --protocol {args.protocol}"
            + "".join(f" --param {k}={v}" for k, v in params.items())
            + "` |"
        )
    print(f"machine: {platform.platform()}, {os.cpu_count()} cores")
    print("| model | HR@10 | NDCG@10 | HR@20 | NDCG@20 | coverage@10 | fit time | command |")
    print("|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    print(json.dumps({"split": args.split, "dataset": str(args.data)}))


if __name__ == "__main__":
    main()
