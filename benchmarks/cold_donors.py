"""Do other text neighbours help new products? Trained cold-items artifacts, their new products'
donors (``cold_neighbours`` seen items of closest text, weighted by softmax(cosine /
``cold_temperature``)) re-derived at scoring time for each pair of a grid, the cold offset refitted
on validation by maximum likelihood for each (as training fits it), scored on validation (all its
shoppers, and those whose target is new) and on the test's new-product shoppers.

usage: python benchmarks/cold_donors.py --artifacts A [--data ../shared/datasets/amazon-beauty]
       [--grid 10:0.05,3:0.05,...] [--out results.json]

A diagnostic of scoring only: the networks were trained (ID dropout included) with the donors of
their own settings, which a real change of the setting would retrain with. It also reports how well
the blend foresees which validation shoppers pick a new product: the area under the ROC curve of the
blend's log-odds of a new next item (the softmax mass of new products against the rest, offset 0).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.special import logsumexp
from sklearn.metrics import roc_auc_score

from cold_tradeoff import at_offset, document_head
from semrec.artifacts import load_artifacts
from semrec.data.splits import EvalCases
from semrec.evaluation.runner import RunSpec, load_trained, prepare, write_results
from semrec.models.blend import Donors, text_neighbours
from semrec.models.sequential import SequentialRecommender
from semrec.training.new_products import offset_free_blend

ROOT = Path(__file__).resolve().parents[1]


def use_donors(model: SequentialRecommender, donors: Donors) -> None:
    """Scores the model's new products with these donors: their borrowed ID parts (every network's
    item table) and their borrowed co-occurrence."""
    model.donors = donors
    rows = torch.cat(
        [torch.zeros(1, donors.items.shape[1], dtype=torch.long), torch.from_numpy(donors.items) + 1]
    )
    weights = torch.cat([torch.zeros(1, donors.weights.shape[1]), torch.from_numpy(donors.weights)])
    for net in model.members():
        net.items.neighbour_rows = rows
        net.items.neighbour_weights = weights


def new_log_odds(model: SequentialRecommender, cases: EvalCases, exclude: np.ndarray) -> np.ndarray:
    """Per case, log(softmax mass of new products / mass of the rest) under the blend at offset 0
    (history and ``exclude`` left out of the candidates)."""
    model.cold_offset = 0.0
    new = model.counts == 0
    out = []
    for start in range(0, len(cases.users), 1024):
        histories = cases.histories[start : start + 1024]
        scores = model.score(histories).astype(np.float64)
        for row, history in enumerate(histories):
            scores[row, history] = -np.inf
        scores[:, exclude] = -np.inf
        out.append(logsumexp(scores[:, new], axis=1) - logsumexp(scores[:, ~new], axis=1))
    return np.concatenate(out)


def main() -> None:
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=raw)
    parser.add_argument("--artifacts", type=Path, required=True)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "datasets" / "amazon-beauty")
    parser.add_argument("--grid", default="10:0.05,3:0.05,30:0.05,10:0.02,10:0.1,30:0.1")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    spec = RunSpec(data=args.data, artifacts=args.artifacts, protocol="cold-items")
    prepared = prepare(spec)
    model = load_trained(spec, prepared.dataset)  # refuses artifacts of another protocol or dataset
    if not isinstance(model, SequentialRecommender) or model.donors is None or model.text_vectors is None:
        raise SystemExit("--artifacts must hold an lmrec model whose new products borrow (cold_neighbours)")
    _, _, config = load_artifacts(args.artifacts)
    split = prepared.split
    assert split.valid_cold_items is not None and split.cold_items is not None
    assert prepared.data.cold_calibrator is not None
    new_targets = np.isin([t[0] for t in split.valid.targets], split.valid_cold_items)
    # the weights the offsets are fitted under (new products' own, when the model has them)
    blend = dataclasses.asdict(model.weights)
    unit = model.text_vectors / np.maximum(np.linalg.norm(model.text_vectors, axis=1, keepdims=True), 1e-12)
    seen = model.counts > 0
    odds = new_log_odds(model, split.valid, split.cold_items)
    auc = round(float(roc_auc_score(new_targets, odds)), 4)
    print(json.dumps({"valid_new_target_auc": auc}), flush=True)
    rows: list[dict[str, Any]] = []
    for pair in args.grid.split(","):
        neighbours, temperature = int(pair.split(":")[0]), float(pair.split(":")[1])
        use_donors(
            model,
            text_neighbours(
                unit, unit[seen], np.flatnonzero(seen), neighbours, temperature, np.arange(len(seen))
            ),
        )
        fitted = prepared.data.cold_calibrator(
            offset_free_blend(model), {"blend": 1.0}, model.counts == 0, "likelihood"
        )
        assert fitted is not None
        row = {
            "cold_neighbours": neighbours,
            "cold_temperature": temperature,
            "trained_with": neighbours == int(config["settings"].get("cold_neighbours", 0))
            and temperature == float(config["settings"].get("cold_temperature", 0.05)),
            "cold_offset": round(fitted[0], 4),
            **at_offset(model, split, fitted[0], new_targets),
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    if args.out is not None:
        document = {
            **document_head(args.data, args.artifacts, config, "cold-items"),
            "blend": blend,
            "valid_cases": len(split.valid.users),
            "valid_new_target_cases": int(new_targets.sum()),
            "valid_new_target_auc": auc,
            "test_cases": len(split.test.users),
            "rows": rows,
        }
        write_results(document, args.out)


if __name__ == "__main__":
    main()
