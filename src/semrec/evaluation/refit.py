"""`semrec train --networks-from A`: a sequential model's trained networks kept, and everything fitted
on validation after them fitted again under this run's settings (the blend weights, the title-word
term's choices, new products' weights and offset, the ranking stage). A shop changes how new products
are favoured, or turns the ranking stage on, without an hour of training; the artifacts say which
networks they hold.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from semrec.artifacts import read_config
from semrec.evaluation.evaluator import evaluate
from semrec.evaluation.runner import RunSpec, load_trained, prepare, results_document, save_trained
from semrec.models.ranker import without_ranker
from semrec.models.registry import create_model
from semrec.models.sequential import SequentialRecommender
from semrec.provenance import code_version

# the settings read only after the networks are trained (semrec.training.fitting, new_products)
REFITTABLE = frozenset(
    {
        "cooccurrence_weight",
        "text_weight",
        "text_metric_epochs",
        "word_weight",
        "word_decay",
        "word_lead",
        "cold_weights",
        "cold_offset",
        "calibrate_cold",
        "cold_rule",
        "ranker",
    }
)


def run_refit(spec: RunSpec, source: Path, out: Path) -> dict[str, Any]:
    """The networks of the artifacts in ``source`` (trained under ``spec``'s protocol and dataset, by
    the same model with the same network settings), refitted after them under ``spec.params`` and
    saved to ``out``. Refuses, naming them, settings that would change the networks."""
    assert spec.model is not None
    started = time.perf_counter()
    code_version()
    asked = create_model(spec.model, spec.params)
    prepared = prepare(spec)
    source_config = read_config(source)
    if source_config.get("model") != spec.model:
        raise ValueError(
            f"--networks-from {source} holds a {source_config.get('model')!r} model, not {spec.model!r}"
        )
    model = load_trained(RunSpec(**{**spec.__dict__, "artifacts": source, "model": None}), prepared.dataset)
    if not isinstance(model, SequentialRecommender):
        raise ValueError(
            f"--networks-from needs a sequential model's artifacts (lmrec, sasrec), not {spec.model}"
        )
    trained, wanted = model.settings(), asked.settings()
    changed = sorted(
        k for k in set(trained) | set(wanted) if k not in REFITTABLE and trained.get(k) != wanted.get(k)
    )
    if changed:
        shown = ", ".join(f"{k} ({trained.get(k)!r} trained, {wanted.get(k)!r} asked)" for k in changed)
        raise ValueError(
            f"--networks-from {source}: these settings shape the networks and cannot change without "
            f"training them again: {shown}; only {', '.join(sorted(REFITTABLE))} can"
        )
    model.config = asked.config
    model.fit_after_networks(prepared.data)
    fit_seconds = time.perf_counter() - started
    with without_ranker(model):  # as `semrec train`: the saved validation figures are retrieval's
        result = evaluate(model, prepared.split.valid, prepared.data.item_counts(), spec.batch_size)
    valid_spec = RunSpec(**{**spec.__dict__, "split": "valid", "artifacts": None})
    document = results_document(valid_spec, prepared, model, result, fit_seconds, started)
    networks = {
        "artifacts": str(Path(source).resolve()),
        "created": source_config.get("created"),
        "code": source_config.get("provenance", {}).get("code"),
        "training": source_config.get("training", {}),  # the networks' epochs and validation figures
    }
    save_trained(model, prepared, spec, out, document, spec.provenance(), extra={"networks_from": networks})
    document["networks_from"] = networks
    return document
