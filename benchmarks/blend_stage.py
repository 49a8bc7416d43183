"""What the benchmarks that compare variants of lmrec's blend stage share: trained artifacts loaded
under their protocol, and one variant refitted (blend weights, new products' weights and offset,
ranking stage, all on validation, as `semrec train` does after the networks) and scored on the test.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cold_tradeoff import at_offset, document_head
from semrec.artifacts import load_artifacts
from semrec.data.splits import Split
from semrec.evaluation.evaluator import evaluate
from semrec.evaluation.runner import Protocol, RunSpec, load_trained, prepare, write_results
from semrec.models.base import TrainingData
from semrec.models.sequential import SequentialRecommender
from semrec.training.fitting import fit_blend, fit_ranking_stage
from semrec.training.ranker_fit import fit_ranker

DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "amazon-beauty"


@dataclass
class Loaded:
    model: SequentialRecommender
    config: dict[str, Any]
    split: Split
    data: TrainingData
    counts: np.ndarray
    new_targets: np.ndarray | None  # cold-items: which validation cases' target is a new product


def load(data: Path, artifacts: Path, protocol: Protocol) -> Loaded:
    """lmrec artifacts with their data split as trained (refused under another protocol or dataset)."""
    spec = RunSpec(data=data, artifacts=artifacts, protocol=protocol)
    prepared = prepare(spec)
    model = load_trained(spec, prepared.dataset)
    if not isinstance(model, SequentialRecommender) or model.affinity is None:
        raise SystemExit("--artifacts must hold an lmrec model with the text-affinity term")
    _, _, config = load_artifacts(artifacts)
    split = prepared.split
    new_targets = None
    if split.valid_cold_items is not None:
        new_targets = np.isin([t[0] for t in split.valid.targets], split.valid_cold_items)
    return Loaded(model, config, split, prepared.data, prepared.data.item_counts(), new_targets)


def refit_and_score(loaded: Loaded, ranker_splits: int = 0) -> dict[str, Any]:
    """The blend stage refitted on validation under the model's current settings, then the test.
    With ``ranker_splits``, the ranking stage is also refitted on that many other random splits of
    validation into fitting and held-out shoppers (seeds 1, 2, ...), and each held-out NDCG@10 is
    reported: how much of a difference between variants one split's figure can carry."""
    model, split = loaded.model, loaded.split
    started = time.perf_counter()
    fit_blend(model, loaded.data)  # weights, new products' weights and offset, chosen on validation
    weights = model.weights
    row: dict[str, Any] = {
        "blend_seconds": round(time.perf_counter() - started, 1),
        "cooccurrence_weight": weights.prior,
        "text_weight": weights.text,
        "word_weight": weights.words,
        "word_lead": None if model.words is None else model.words.lead,
        "word_decay": None if model.words is None else model.words.decay,
        "word_validation_ndcg@10": model.word_validation,
        "new_product_cooccurrence_weight": weights.new_prior,
        "new_product_text_weight": weights.new_text,
        "new_product_weights_validation": model.cold_weights_validation,
        "cold_offset": round(model.cold_offset, 4),
        "valid_blend_ndcg@10": max((model.blend_validation or {"": 0.0}).values()),
    }
    if loaded.new_targets is not None:
        row["retrieval"] = at_offset(model, split, model.cold_offset, loaded.new_targets)
    fit_ranking_stage(model, loaded.data)
    row["ranker_validation"] = model.ranker_info
    if model.ranker is not None and ranker_splits > 0:
        n, fresh = model.ranker.n_candidates, model.ranker.fresh
        rule = str(getattr(model.config, "cold_rule", "likelihood"))
        refits = [
            fit_ranker(model, split.valid, n, seed=seed, never=split.cold_items, fresh=fresh, cold_rule=rule)[
                1
            ]
            for seed in range(1, ranker_splits + 1)
        ]
        row["ranker_holdout_ndcg@10_by_split"] = [info["holdout_ndcg@10"] for info in refits]
    result = evaluate(model, split.test, loaded.counts, progress=False)
    row["test"] = {k: round(result.metrics[k], 4) for k in ("hr@10", "ndcg@10", "hr@20", "ndcg@20")}
    return row


def arguments(doc: str | None, ranker_splits: int = 0) -> argparse.ArgumentParser:
    """The options every blend-stage comparison takes (a benchmark adds its own); ``ranker_splits``
    is how many other validation splits the ranking stage is refitted on by default."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--artifacts", type=Path, required=True)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--protocol", default="cold-items", choices=["cold-items", "loo"])
    parser.add_argument("--out", type=Path)
    parser.add_argument(
        "--ranker-splits",
        type=int,
        default=ranker_splits,
        help=f"other validation splits to refit the ranking stage on (default {ranker_splits})",
    )
    return parser


def compare(
    args: argparse.Namespace,
    variants: Sequence[tuple[Mapping[str, Any], Mapping[str, Any]]],
    about: Mapping[str, Any] | None = None,
) -> None:
    """Each variant, (what its row says of it, the settings it replaces), refitted and scored side
    by side on the same artifacts; the rows printed and, with ``--out``, written with ``about``."""
    loaded = load(args.data, args.artifacts, args.protocol)
    rows: list[dict[str, Any]] = []
    for label, settings in variants:
        loaded.model.config = dataclasses.replace(loaded.model.config, **settings)
        row = {**label, **refit_and_score(loaded, args.ranker_splits)}
        rows.append(row)
        print(json.dumps(row, default=str), flush=True)
    if args.out is not None:
        document = {
            **document_head(args.data, args.artifacts, loaded.config, args.protocol),
            "split": "test (choices on validation)",
            **(about or {}),
            "test_cases": len(loaded.split.test.users),
            "rows": rows,
        }
        write_results(document, args.out)
