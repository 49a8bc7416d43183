"""`semrec retrain`: continual training from a store, behind a promotion gate.

1. The live model A, its dataset's training sequences and validation cases (its own protocol).
2. The store's events: those A has not learned from are new; the newest share of them is held out.
3. A over the store's catalog (new products scored as the server scores them): the reference.
4. B: A's weights, trained on the new events (all but the held-out ones) and a replay sample of
   what A learned from; its co-occurrence term refitted on all of it.
5. The gate (:func:`gate`): B must be at least as good as A on the held-out newest events, and lose
   at most ``tolerance`` of A's NDCG@10 on A's own validation shoppers. Then B is written; the
   caller reloads it (every server follows the store's change log) or leaves A serving.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from semrec.artifacts import load_artifacts, load_catalog, save_artifacts
from semrec.data.loader import load_dataset
from semrec.data.splits import EvalCases
from semrec.data.text import listed_words
from semrec.evaluation.evaluator import evaluate
from semrec.feedback.influence import Influence
from semrec.models.sequential import SequentialRecommender
from semrec.provenance import code_version, dataset_fingerprint, mismatch
from semrec.pseudonyms import pseudonym, store_secret
from semrec.store.protocol import Store
from semrec.training.continual import (
    RetrainSettings,
    ShopLog,
    artifacts_lineage,
    catalog_with,
    fit_prior,
    new_products,
    replay_sample,
    start_ids_where_borrowed,
    text_vectors_of,
    timed,
    warm_train,
    with_catalog,
)

log = logging.getLogger("semrec.training")


@dataclass
class Verdict:
    """The gate's figures and decision (written to the candidate's ``gate.json``)."""

    promoted: bool
    reason: str
    newest: dict[str, float]  # NDCG@10 / HR@10 of A and B on the held-out newest events
    reference: dict[str, float]  # the same on A's own validation shoppers
    newest_cases: int
    reference_cases: int
    tolerance: float

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def ndcg_hr(model: Any, cases: EvalCases, counts: np.ndarray) -> dict[str, float]:
    result = evaluate(model, cases, counts, progress=False)
    return {"ndcg@10": round(result.metrics["ndcg@10"], 6), "hr@10": round(result.metrics["hr@10"], 6)}


def gate(
    current: Any,
    candidate: Any,
    newest: EvalCases,
    reference: EvalCases,
    counts: np.ndarray,
    settings: RetrainSettings,
) -> Verdict:
    """Promotes ``candidate`` only when it is at least as good as ``current`` on the newest held-out
    events and within ``settings.tolerance`` of it on the reference (A's validation) shoppers."""
    if len(newest.users) < settings.min_holdout:
        return Verdict(
            False,
            f"only {len(newest.users)} held-out newest events can be scored (at least "
            f"{settings.min_holdout} needed): wait for more events",
            {},
            {},
            len(newest.users),
            len(reference.users),
            settings.tolerance,
        )
    figures = {"A": ndcg_hr(current, newest, counts), "B": ndcg_hr(candidate, newest, counts)}
    new_a, new_b = figures["A"]["ndcg@10"], figures["B"]["ndcg@10"]
    newest_figures = {"A_ndcg@10": new_a, "B_ndcg@10": new_b, "A_hr@10": figures["A"]["hr@10"]}
    newest_figures["B_hr@10"] = figures["B"]["hr@10"]
    reference_figures: dict[str, float] = {}
    ok_reference = True
    if len(reference.users):
        ref_a, ref_b = ndcg_hr(current, reference, counts), ndcg_hr(candidate, reference, counts)
        reference_figures = {"A_ndcg@10": ref_a["ndcg@10"], "B_ndcg@10": ref_b["ndcg@10"]}
        reference_figures.update({"A_hr@10": ref_a["hr@10"], "B_hr@10": ref_b["hr@10"]})
        ok_reference = ref_b["ndcg@10"] >= (1 - settings.tolerance) * ref_a["ndcg@10"]
    reasons = []
    if new_b < new_a:
        reasons.append(f"newest events: NDCG@10 {new_b:.4f} is below the live model's {new_a:.4f}")
    if not ok_reference:
        reasons.append(
            f"the live model's validation shoppers: NDCG@10 {reference_figures['B_ndcg@10']:.4f} loses more "
            f"than {settings.tolerance:.0%} of its {reference_figures['A_ndcg@10']:.4f} (forgetting)"
        )
    promoted = not reasons
    reason = "at least as good on the newest events and no forgetting" if promoted else "; ".join(reasons)
    return Verdict(
        promoted,
        reason,
        newest_figures,
        reference_figures,
        len(newest.users),
        len(reference.users),
        settings.tolerance,
    )


def reference_cases(
    config: dict[str, Any],
    item_ids: list[str],
    shoppers: int,
    seed: int,
    erased: Callable[[str], bool] = lambda user_id: False,
) -> tuple[list[np.ndarray], EvalCases]:
    """(training sequences, validation cases) of the dataset the lineage began with, under its own
    protocol (``all``: every sequence trained, no validation cases); nothing when its folder is gone
    (the gate then judges on the newest events alone). ValueError when its files changed."""
    from semrec.evaluation.runner import RunSpec, make_split

    provenance = config.get("provenance", {})
    path = Path(config.get("dataset", {}).get("path", ""))
    empty = EvalCases(np.zeros(0, dtype=np.int64), [], [])
    if not path.is_dir():
        log.warning("the artifacts' dataset %s is gone: no replay of it, no reference check", path)
        return [], empty
    fingerprint = provenance.get("dataset_fingerprint")
    if fingerprint is not None and fingerprint != dataset_fingerprint(path):
        raise ValueError(
            f"{path} changed since the artifacts were trained on it (fingerprint differs); "
            "continual training replays that data: restore it or train anew"
        )
    dataset = load_dataset(path)
    ids = [str(i) for i in dataset.item_ids]
    if item_ids[: len(ids)] != ids:
        raise ValueError(f"the artifacts' catalog does not begin with {path}'s items; train anew")
    keep = np.array([not erased(str(u)) for u in dataset.user_ids], dtype=bool)  # erased on request
    if not keep.all():
        log.info("%d shoppers of %s were erased on request: left out", int((~keep).sum()), path)
    if provenance.get("protocol") == "all":  # trained on every event, nothing held out to validate on
        log.warning(
            "the artifacts were trained on all of %s: no validation shoppers to check forgetting on", path
        )
        return [s for s, k in zip(dataset.sequences, keep, strict=True) if k], empty
    spec = RunSpec(
        data=path,
        protocol=provenance.get("protocol", "loo"),
        cold_fraction=float(provenance.get("cold_fraction", 0.1)),
        valid_start=str(provenance.get("valid_start", "2011-11-01")),
        test_start=str(provenance.get("test_start", "2011-11-15")),
    )
    # the split must be the one the model was trained under (a cold-items split changed once)
    problem = mismatch(provenance, spec.split_record())  # the fingerprint is checked above
    if problem:
        raise ValueError(f"the artifacts cannot be retrained on their own split: {problem}; train anew")
    split = make_split(dataset, spec)
    valid = split.valid
    rows = np.flatnonzero(keep[valid.users])
    valid = EvalCases(valid.users[rows], [valid.histories[r] for r in rows], [valid.targets[r] for r in rows])
    if len(valid.users) > shoppers:
        rows = np.sort(np.random.default_rng(seed).choice(len(valid.users), shoppers, replace=False))
        valid = EvalCases(
            valid.users[rows], [valid.histories[r] for r in rows], [valid.targets[r] for r in rows]
        )
    return [s for s, k in zip(split.train, keep, strict=True) if k], valid


def retrain(
    artifacts: Path,
    store: Store,
    out: Path,
    settings: RetrainSettings | None = None,
    since_event: int | None = None,
) -> Verdict:
    """Writes the candidate B to ``out`` (with ``gate.json``) and returns the gate's verdict.
    ValueError when the artifacts cannot be retrained or nothing is new."""
    settings = settings or RetrainSettings()
    settings.check()
    started = time.perf_counter()
    current, item_ids, config = load_artifacts(artifacts)
    if not isinstance(current, SequentialRecommender):
        raise ValueError(f"{config['model']} is not trained by a network; only sasrec and lmrec retrain")
    base_events, through = artifacts_lineage(config, since_event)
    secret, gone = store_secret(store), store.erased_users()
    base_train, reference = reference_cases(
        config,
        item_ids,
        settings.reference_shoppers,
        settings.seed,
        lambda user_id: pseudonym(secret, user_id) in gone,
    )

    added = new_products(store.all_items(), item_ids)
    deleted = store.deleted_items()
    added = [item for item in added if item.item_id not in deleted]
    all_ids = item_ids + [item.item_id for item in added]
    index_of = {item_id: i for i, item_id in enumerate(all_ids)}
    catalog = catalog_with(load_catalog(Path(artifacts)), added)
    # a burst of fake clicks does not reach the model: every event since the dataset's is read
    # through the caps (the same decisions as every earlier retrain of this line made)
    influence = Influence(settings.influence)
    rows = [row for row in store.event_log() if row.id <= base_events or influence.counts(row)]
    shop = ShopLog.read(rows, index_of)
    if influence.refused:
        log.info("%d new events were past the influence caps: not learned from", influence.refused)
    if shop.last_event <= through:
        raise ValueError(f"the store holds no event after the {through} the model has learned from")
    holdout = shop.holdout_start(through, settings.holdout)
    max_len = int(current.config.max_len)

    # A over the whole catalog: new products as the server scores them (the gate's reference)
    pad = np.zeros(len(added))
    texts = text_vectors_of(current, added)
    extended_text = (
        None if texts is None else np.vstack([np.asarray(current.text_vectors), texts]).astype(np.float32)
    )
    words = [listed_words(item) for item in added]
    live = with_catalog(current, np.concatenate([current.counts, pad]), extended_text, words)
    learned = base_train + shop.between(base_events, through)
    fit_prior(live, learned, catalog)

    # B: A's weights, on the new events before the held-out ones plus a replay of what A learned
    trained = learned + shop.between(through, holdout - 1)
    counts = np.bincount(np.concatenate(trained), minlength=len(all_ids)).astype(np.float64)
    candidate = with_catalog(live, counts, extended_text)
    gained = start_ids_where_borrowed(live, candidate)
    fit_prior(candidate, trained, catalog)
    new = shop.windows(through, holdout - 1, max_len)
    if not new:
        raise ValueError("no new event before the held-out ones has a history to learn from")
    replay = replay_sample(learned, round(settings.replay * len(new)), max_len, settings.seed)
    train_started = time.perf_counter()
    record = warm_train(candidate, new, replay, settings)
    train_seconds = timed(train_started)

    newest = shop.cases(holdout - 1, max_len)
    verdict = gate(live, candidate, newest, reference, counts, settings)
    log.info("gate: %s %s", "promote" if verdict.promoted else "refuse", verdict.as_json())
    continual = {
        "parent": str(Path(artifacts).resolve()),
        "dataset_events_through": base_events,
        "events_through": holdout - 1,
        "store_last_event": shop.last_event,
        "new_examples": len(new),
        "events_past_caps": influence.refused,
        "replay_examples": len(replay),
        "new_products": len(added),
        "products_given_ids": len(gained),
        "settings": {**asdict(settings), "influence": settings.influence.model_dump()},
        "train_seconds": train_seconds,
        "seconds": timed(started),
        "epochs": record.epochs,
        "gate": verdict.as_json(),
    }
    candidate.training_logs = [record]
    save_artifacts(
        candidate,
        all_ids,
        out,
        dict(config.get("dataset", {})),
        catalog=catalog,
        provenance={**config.get("provenance", {}), "code": code_version()},
        extra={"continual": continual},
    )
    return verdict
