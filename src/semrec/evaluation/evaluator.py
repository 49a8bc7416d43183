"""Full-ranking evaluation over all items, with history masking, beyond-accuracy figures and segments."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from semrec.data.splits import EvalCases
from semrec.evaluation.exposure import exposure, gini
from semrec.evaluation.metrics import KS, hit_matrix, per_user_metrics
from semrec.models.base import Recommender
from semrec.models.sequential_settings import COLD_RULES
from semrec.progress import track

DEPTH = max(KS)  # ranked items kept per user (and written to predictions)
HISTORY_BUCKETS = ((1, 2), (3, 4), (5, 9), (10, 19), (20, None))
POPULARITY_GROUPS = ("head", "torso", "tail", "unseen")


@dataclass
class EvaluationResult:
    """Averages over users, per-segment averages, and the ranked lists they came from."""

    metrics: dict[str, float]
    segments: dict[str, dict[str, dict[str, float]]]
    ranked: np.ndarray = field(repr=False)  # (n_users, DEPTH) item indices, best first
    users: np.ndarray = field(repr=False)
    seconds: float = 0.0


def popularity_groups(train_counts: np.ndarray) -> np.ndarray:
    """Labels each item by training popularity.

    head: the 20% most frequent of the items seen in training; torso: the next 30%; tail: the rest
    of the seen items; unseen: never in training. Returns an array of group names per item.
    """
    groups = np.full(len(train_counts), "unseen", dtype=object)
    seen = np.flatnonzero(train_counts > 0)
    order = seen[np.argsort(-train_counts[seen], kind="stable")]
    head_end, torso_end = round(0.2 * len(order)), round(0.5 * len(order))
    groups[order[:head_end]] = "head"
    groups[order[head_end:torso_end]] = "torso"
    groups[order[torso_end:]] = "tail"
    return groups


def _history_bucket(length: int) -> str:
    for low, high in HISTORY_BUCKETS:
        if length >= low and (high is None or length <= high):
            return f"{low}+" if high is None else f"{low}-{high}"
    return "0"


def rank_all(
    model: Recommender, cases: EvalCases, batch_size: int = 1024, depth: int = DEPTH, progress: bool = True
) -> np.ndarray:
    """Top-``depth`` items over the whole catalog for every case, history excluded."""
    ranked = np.full((len(cases.users), depth), -1, dtype=np.int64)  # -1: nothing left to rank
    starts = range(0, len(cases.users), batch_size)
    for start in track(starts, f"ranking {len(cases.users):,} shoppers", len(starts)) if progress else starts:
        histories = cases.histories[start : start + batch_size]
        top = model.recommend(histories, k=depth, exclude=histories)
        ranked[start : start + len(histories), : top.shape[1]] = top
    return ranked


def evaluate(
    model: Recommender,
    cases: EvalCases,
    train_counts: np.ndarray,
    batch_size: int = 1024,
    progress: bool = True,
) -> EvaluationResult:
    """Scores ``model`` on ``cases`` by full ranking.

    Args:
        model: a fitted recommender.
        cases: histories and targets (from a :class:`~semrec.data.splits.Split`).
        train_counts: per-item occurrences in the training data, for popularity segments.
        batch_size: shoppers ranked at once.
    """
    started = time.perf_counter()
    n_items = len(train_counts)
    ranked = rank_all(model, cases, batch_size, progress=progress)
    hits = hit_matrix(ranked, cases.targets)
    n_targets = np.array([len(t) for t in cases.targets], dtype=np.int64)
    per_user = per_user_metrics(hits, n_targets)
    metrics = {name: float(values.mean()) if len(values) else 0.0 for name, values in per_user.items()}

    groups = popularity_groups(train_counts)
    top10 = ranked[:, :10][ranked[:, :10] >= 0]
    metrics["coverage@10"] = float(len(np.unique(top10)) / n_items)
    metrics["gini@10"] = gini(exposure(ranked, n_items, 10))
    metrics["long_tail_share@10"] = float((groups[top10] != "head").mean()) if len(top10) else 0.0

    history_labels = np.array([_history_bucket(len(h)) for h in cases.histories], dtype=object)
    target_labels = np.array([groups[t[0]] for t in cases.targets], dtype=object)
    segments = {
        "history_length": _segment(
            per_user, history_labels, [_history_bucket(lo) for lo, _ in HISTORY_BUCKETS]
        ),
        "target_popularity": _segment(per_user, target_labels, list(POPULARITY_GROUPS)),
    }
    return EvaluationResult(
        metrics=metrics,
        segments=segments,
        ranked=ranked,
        users=cases.users,
        seconds=time.perf_counter() - started,
    )


def _segment(
    per_user: dict[str, np.ndarray], labels: np.ndarray, order: list[str]
) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for label in order:
        mask = labels == label
        if mask.any():
            out[label] = {"users": int(mask.sum())}
            for name in ("hr@10", "ndcg@10", "mrr@10"):
                out[label][name] = float(per_user[name][mask].mean())
    return out


def blend_ndcg(
    cases: EvalCases,
    parts: Callable[[Sequence[np.ndarray]], dict[str, np.ndarray]],
    blends: Sequence[Mapping[str, float]],
    k: int = 10,
    batch_size: int = 2048,
    exclude: np.ndarray | None = None,
) -> list[float]:
    """NDCG@k of many weighted sums of a model's score parts, each part computed once; items in
    ``exclude`` are no candidates (cold-items: the test's hidden products, never validation's targets).

    ``parts(histories)`` gives named (batch, n_items) score matrices; blend ``b`` ranks by
    ``sum(b.get(name, 1.0) * matrix)``. Ranks follow :func:`~semrec.models.base.top_k` exactly
    (history excluded, ties to the lower item index), so each figure equals what :func:`evaluate`
    reports for a model scoring that sum.
    """
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    totals = np.zeros(len(blends))
    for start in range(0, len(cases.users), batch_size):
        histories = cases.histories[start : start + batch_size]
        targets = cases.targets[start : start + batch_size]
        matrices = parts(histories)
        rows = np.repeat(np.arange(len(histories)), [len(h) for h in histories])
        cols = np.concatenate([np.asarray(h, dtype=np.int64) for h in histories] or [rows])
        target_rows = np.repeat(np.arange(len(targets)), [len(t) for t in targets])
        target_cols = np.concatenate([np.asarray(t, dtype=np.int64) for t in targets] or [target_rows])
        ideal = np.cumsum(discounts)[np.minimum([len(t) for t in targets], k) - 1]
        index = np.arange(next(iter(matrices.values())).shape[1])
        for b, blend in enumerate(blends):
            combined = sum(blend.get(name, 1.0) * matrix for name, matrix in matrices.items())
            assert isinstance(combined, np.ndarray)
            combined[rows, cols] = -np.inf
            if exclude is not None and len(exclude):
                combined[:, exclude] = -np.inf
            value = combined[target_rows, target_cols][:, None]  # (n_targets, 1)
            pool = combined[target_rows]  # (n_targets, n_items)
            ahead = (pool > value) | ((pool == value) & (index[None, :] < target_cols[:, None]))
            rank = ahead.sum(axis=1) + 1
            gain = np.where((rank <= k) & (value[:, 0] > -np.inf), discounts[np.minimum(rank, k) - 1], 0.0)
            totals[b] += float((np.bincount(target_rows, gain, minlength=len(targets)) / ideal).sum())
    return [float(t / max(len(cases.users), 1)) for t in totals]


# a choice among the blend grid's 110 pairs needs more shoppers than one offset does (the standard
# protocol's validation holds 51 on amazon-beauty, among 33 new products: too few to choose on)
NEW_ITEM_BLEND_MIN_CASES = 200


def new_item_blend_ndcg(
    cases: EvalCases,
    parts: Callable[[Sequence[np.ndarray]], dict[str, np.ndarray]],
    blends: Sequence[Mapping[str, float]],
    cold: np.ndarray,
    exclude: np.ndarray | None = None,
    min_targets: int = NEW_ITEM_BLEND_MIN_CASES,
) -> tuple[list[float], int] | None:
    """How well each blend orders new products among themselves: NDCG@10 (:func:`blend_ndcg`) over
    the cases whose target has no training events (``cold``), each ranking only the cold items
    (less ``exclude`` and its history). How many new products a blend lets into a list is the
    offset's business (:func:`fit_cold_offset`), not this one's. Returns (NDCGs, cases), or None
    with fewer than ``min_targets`` such cases."""
    candidates = np.asarray(cold, dtype=bool).copy()
    if exclude is not None and len(exclude):
        candidates[exclude] = False
    rows = [r for r, t in enumerate(cases.targets) if bool(candidates[t].any())]
    if len(rows) < min_targets:
        return None
    targets = [cases.targets[r][candidates[cases.targets[r]]] for r in rows]
    chosen = EvalCases(cases.users[rows], [cases.histories[r] for r in rows], targets)
    barrier = np.where(candidates, 0.0, -np.inf).astype(np.float32)  # added with weight 1 by blend_ndcg

    def among_new(histories: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
        shape = (len(histories), len(barrier))
        return {**parts(histories), "among new products": np.broadcast_to(barrier, shape)}

    return blend_ndcg(chosen, among_new, blends), len(rows)


def fit_cold_offset(
    cases: EvalCases,
    parts: Callable[[Sequence[np.ndarray]], dict[str, np.ndarray]],
    blend: Mapping[str, float],
    cold: np.ndarray,
    exclude: np.ndarray | None = None,
    min_targets: int = 50,
    batch_size: int = 2048,
    rule: str = "likelihood",
    k: int = 10,
) -> tuple[float, int] | None:
    """The offset ``b`` for items with no training events (``cold``), added to their blended scores
    (``sum(blend.get(name, 1.0) * part)``) over the items a case can have as its target (history
    and ``exclude`` left out), fitted so that new products get the share of the cases whose target
    is cold (one number that puts new products on the same scale as the rest):

    - ``rule="likelihood"``: the maximum-likelihood ``b``, the scores read as the logits of a
      softmax; at the optimum the probability the model gives cold items as a group, averaged over
      the cases, equals that share;
    - ``rule="exposure"``: the ``b`` at which cold items fill that share of the top-``k`` slots,
      averaged over the cases (equal exposure for equal demand).

    Returns (offset, cold targets), or None with fewer than ``min_targets``.
    """
    if rule not in COLD_RULES:
        raise ValueError(f"unknown cold calibration rule {rule!r}; allowed: {', '.join(COLD_RULES)}")
    cold = np.asarray(cold, dtype=bool)
    targets = np.array([bool(cold[t].any()) for t in cases.targets], dtype=bool)
    if int(targets.sum()) < min_targets or cold.all():
        return None
    share = float(targets.mean())
    # likelihood, per case: logsumexp(cold) - logsumexp(warm) at b = 0; exposure, per case and slot
    # j: the offset above which the j-th best cold item beats the (k+1-j)-th best warm one
    found = np.empty((len(cases.users), k)) if rule == "exposure" else np.empty(len(cases.users))
    for start in range(0, len(cases.users), batch_size):
        histories = cases.histories[start : start + batch_size]
        matrices = parts(histories)
        scores = sum(blend.get(name, 1.0) * m for name, m in matrices.items())
        assert isinstance(scores, np.ndarray)
        scores = scores.astype(np.float64)
        rows = np.repeat(np.arange(len(histories)), [len(h) for h in histories])
        cols = np.concatenate([np.asarray(h, dtype=np.int64) for h in histories] or [rows])
        scores[rows, cols] = -np.inf
        if exclude is not None and len(exclude):
            scores[:, exclude] = -np.inf
        warm_scores, cold_scores = scores[:, ~cold], scores[:, cold]
        if rule == "exposure":
            found[start : start + len(histories)] = slot_thresholds(warm_scores, cold_scores, k)
        else:
            found[start : start + len(histories)] = _logsumexp(cold_scores) - _logsumexp(warm_scores)
    if rule == "exposure":
        return exposure_offset(found.ravel(), share), int(targets.sum())
    gaps = np.nan_to_num(found, nan=-np.inf)
    low, high = -50.0, 50.0
    for _ in range(80):  # the cold mass grows with b: bisect to the observed share
        middle = (low + high) / 2
        mass = float((1.0 / (1.0 + np.exp(-(gaps + middle)))).mean())
        low, high = (middle, high) if mass < share else (low, middle)
    return round((low + high) / 2, 4), int(targets.sum())


def _best(scores: np.ndarray, k: int) -> np.ndarray:
    """Each row's ``k`` largest values, in descending order; -inf pads rows shorter than ``k``."""
    width = scores.shape[1]
    if width < k:
        scores = np.concatenate([scores, np.full((scores.shape[0], k - width), -np.inf)], axis=1)
        width = k
    top = np.partition(scores, width - k, axis=1)[:, width - k :]  # no copy of the whole row besides
    return np.sort(top, axis=1)[:, ::-1]


def slot_thresholds(warm: np.ndarray, cold: np.ndarray, k: int) -> np.ndarray:
    """(cases, k): the j-th best cold item is in the top ``k`` exactly when the offset exceeds the
    j-th threshold (it then beats the (k+1-j)-th best warm item); +inf when it never is."""
    w, c = _best(warm, k), _best(cold, k)
    with np.errstate(invalid="ignore"):
        out = w[:, ::-1] - c  # slot j: warm item k+1-j against cold item j
    out[~np.isfinite(c)] = np.inf  # no j-th cold item: never a slot
    out[np.isfinite(c) & ~np.isfinite(w[:, ::-1])] = -np.inf  # too few warm items: always one
    return out


def exposure_offset(thresholds: np.ndarray, share: float) -> float:
    """The offset at which the given share of all (case, slot) thresholds lies below it: cold items
    then hold that share of the top-k slots, averaged over the cases. Halfway between neighbouring
    thresholds, so a nearby re-scoring lands on the same count."""
    ordered = np.sort(thresholds)
    m = round(share * len(ordered))
    if m <= 0:
        low = ordered[0] - 1.0 if np.isfinite(ordered[0]) else -50.0
        return round(float(low), 4)
    below, above = ordered[m - 1], ordered[m] if m < len(ordered) else np.inf
    if not np.isfinite(below):
        below = -50.0
    value = below + 1e-3 if not np.isfinite(above) else (below + above) / 2
    return round(float(np.clip(value, -50.0, 50.0)), 4)


def _logsumexp(scores: np.ndarray) -> np.ndarray:
    top = scores.max(axis=1)
    safe = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):
        return safe + np.log(np.exp(scores - safe[:, None]).sum(axis=1))
