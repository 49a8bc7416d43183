"""How much new products are favoured, and what it costs: trained cold-items artifacts, their cold
offset swept over a range, each point scored on validation (all its shoppers, new-product targets in
the catalog's own proportion) and on the test's new-product shoppers.

usage: python benchmarks/cold_tradeoff.py --artifacts A [--data ../shared/datasets/amazon-beauty]
       [--offsets -1,0,0.5,...] [--out results.json]

A diagnostic, not a way to choose: the model's own offset is fitted on validation at training time
(`calibrate_cold`, by its `cold_rule`); this table shows where other offsets would land, the one
`cold_rule=exposure` fits on the same validation among them.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
from pathlib import Path
from typing import Any

import numpy as np

from semrec.artifacts import load_artifacts
from semrec.data.splits import EvalCases, Split
from semrec.evaluation.runner import RunSpec, load_trained, prepare, write_results
from semrec.hardware import cpu_info
from semrec.models.base import top_k
from semrec.models.sequential import SequentialRecommender
from semrec.training.new_products import offset_free_blend

ROOT = Path(__file__).resolve().parents[1]


def ranks(
    model: Any, cases: EvalCases, offset: float, exclude: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """1-based rank of each case's (first) target under ``model`` with the cold offset ``offset``,
    and per case the share of its top 10 that are new products (items with no training events)."""
    model.cold_offset = offset
    new = model.counts == 0
    out = np.empty(len(cases.users), dtype=np.int64)
    share = np.empty(len(cases.users))
    for start in range(0, len(cases.users), 1024):
        histories = cases.histories[start : start + 1024]
        scores = model.score(histories)
        for row, history in enumerate(histories):
            scores[row, history] = -np.inf
        if exclude is not None:
            scores[:, exclude] = -np.inf
        targets = np.array([t[0] for t in cases.targets[start : start + 1024]])
        value = scores[np.arange(len(targets)), targets]
        out[start : start + len(targets)] = (scores > value[:, None]).sum(axis=1) + 1
        top = top_k(scores, 10)  # the lists evaluate ranks, ties included; -1 marks an empty slot
        share[start : start + len(targets)] = (new[top] & (top >= 0)).sum(axis=1) / 10
    return out, share


def summary(rank: np.ndarray, share: np.ndarray) -> dict[str, float]:
    gain = np.where(rank <= 10, 1 / np.log2(rank + 1), 0.0)
    return {
        "hr@10": round(float((rank <= 10).mean()), 4),
        "ndcg@10": round(float(gain.mean()), 4),
        "new_share@10": round(float(share.mean()), 4),  # new products' share of the top-10 slots
    }


def at_offset(model: Any, split: Split, offset: float, new_targets: np.ndarray) -> dict[str, Any]:
    """The model at cold offset ``offset`` on validation (all its shoppers, then those whose target
    was seen in training or is new; the test's hidden items leave its candidates, as they are never
    its targets) and on the test's new-product shoppers."""
    valid, valid_share = ranks(model, split.valid, offset, split.cold_items)
    test, test_share = ranks(model, split.test, offset, None)
    return {
        "valid_all": summary(valid, valid_share),
        "valid_seen_targets": summary(valid[~new_targets], valid_share[~new_targets]),
        "valid_new_targets": summary(valid[new_targets], valid_share[new_targets]),
        "test_new_targets": summary(test, test_share),
    }


def document_head(data: Path, artifacts: Path, config: dict[str, Any], protocol: str) -> dict[str, Any]:
    """What every results file of these benchmarks opens with: the data, the artifacts, the machine."""
    return {
        "dataset": str(data.resolve()),
        "protocol": protocol,
        "artifacts": str(artifacts.resolve()),
        "artifacts_created": config.get("created"),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "cpu": cpu_info()},
    }


def main() -> None:
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=raw)
    parser.add_argument("--artifacts", type=Path, required=True)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "datasets" / "amazon-beauty")
    parser.add_argument("--offsets", default="-1,0,0.5,1,1.5,2,2.5,3")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    spec = RunSpec(data=args.data, artifacts=args.artifacts, protocol="cold-items")
    prepared = prepare(spec)
    model = load_trained(spec, prepared.dataset)  # refuses artifacts of another protocol or dataset
    if not isinstance(model, SequentialRecommender):
        raise SystemExit(f"--artifacts holds {model.name}: the cold offset belongs to lmrec and sasrec")
    _, _, config = load_artifacts(args.artifacts)
    split = prepared.split
    assert split.valid_cold_items is not None
    new_targets = np.isin([t[0] for t in split.valid.targets], split.valid_cold_items)
    fitted = float(getattr(model, "cold_offset", 0.0))
    untrained = prepared.data.item_counts() == 0
    # the weights the offsets are fitted under (new products' own, when the model has them)
    blend = dataclasses.asdict(model.weights)
    # the offset cold_rule=exposure fits: new products hold validation's share of new targets
    # among the top-10 slots (training's own calibrator, the test's hidden items excluded)
    assert prepared.data.cold_calibrator is not None
    exposure = prepared.data.cold_calibrator(
        offset_free_blend(model), {"blend": 1.0}, model.counts == 0, "exposure"
    )
    exposure_offset = None if exposure is None else exposure[0]
    grid = {float(o) for o in args.offsets.split(",")} | {fitted}
    rows = []
    for offset in sorted(grid | ({exposure_offset} if exposure_offset is not None else set())):
        row = {
            "cold_offset": offset,
            "fitted": offset == fitted,
            "exposure_rule": offset == exposure_offset,
            **at_offset(model, split, offset, new_targets),
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    if args.out is not None:
        document = {
            **document_head(args.data, args.artifacts, config, "cold-items"),
            "blend": blend,
            "exposure_offset": exposure_offset,
            "valid_cases": len(split.valid.users),
            "valid_new_target_cases": int(new_targets.sum()),
            # validation targets with no training events (the share the fitted offset matches)
            "valid_untrained_target_share": round(
                float(np.mean([untrained[t[0]] for t in split.valid.targets])), 4
            ),
            "test_cases": len(split.test.users),
            "rows": rows,
        }
        write_results(document, args.out)


if __name__ == "__main__":
    main()
