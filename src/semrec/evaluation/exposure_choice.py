"""New products' own blend weights judged by the list that is shown: for each candidate weighting of
new products, the equal-exposure offset (:func:`~semrec.evaluation.evaluator.fit_cold_offset`,
``rule="exposure"``) is fitted and the validation NDCG@10 of all shoppers is read at that offset.

Seen items keep the blend's weights, so their scores, their best ``k`` per shopper and the rank of a
seen target among them are found once; only new products are re-scored per weighting. A shopper's
rank at offset ``b`` then needs no more than each group's best ``k`` scores: a target in the top
``k`` has fewer than ``k`` items of either group above it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from semrec.data.splits import EvalCases
from semrec.evaluation.evaluator import _best, exposure_offset, slot_thresholds

Parts = Callable[[Sequence[np.ndarray]], dict[str, np.ndarray]]


@dataclass(frozen=True)
class ExposureChoice:
    """Per new-product weighting: its exposure offset and the validation NDCG@10 of all cases there."""

    ndcg: list[float]
    offsets: list[float]
    cold_targets: int


def _weighted(matrices: Mapping[str, np.ndarray], weights: Mapping[str, float]) -> np.ndarray:
    """``sum(weights.get(name, 1.0) * matrix)`` (a part weighted 0 adds nothing, not even a NaN)."""
    out = np.zeros(next(iter(matrices.values())).shape, dtype=np.float64)
    for name, matrix in matrices.items():
        weight = weights.get(name, 1.0)
        if weight != 0:
            out += weight * matrix
    return out


def _ahead(scores: np.ndarray, rows: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Per target (row, position into ``scores``' columns): how many items of the same group rank
    above it (higher score, or equal with a lower index, as :func:`~semrec.models.base.top_k`)."""
    if not len(rows):
        return np.zeros(0, dtype=np.int64)
    value = scores[rows, positions][:, None]
    pool = scores[rows]
    index = np.arange(scores.shape[1])[None, :]
    return ((pool > value) | ((pool == value) & (index < positions[:, None]))).sum(axis=1)


def exposure_blend_ndcg(
    cases: EvalCases,
    parts: Parts,
    warm_blend: Mapping[str, float],
    cold_blends: Sequence[Mapping[str, float]],
    cold: np.ndarray,
    exclude: np.ndarray | None = None,
    k: int = 10,
    min_targets: int = 50,
    batch_size: int = 2048,
) -> ExposureChoice | None:
    """NDCG@``k`` over all ``cases`` of the blend that scores items with training events by
    ``warm_blend`` and items without (``cold``) by each of ``cold_blends`` (weights of the named
    parts, as :func:`~semrec.evaluation.evaluator.blend_ndcg`), each at the offset at which new
    products fill the share of the top-``k`` slots that their share of the cases' targets asks for.
    History and ``exclude`` are no candidates. None with fewer than ``min_targets`` new targets."""
    cold = np.asarray(cold, dtype=bool).copy()
    candidates = np.ones(len(cold), dtype=bool)
    if exclude is not None and len(exclude):
        candidates[exclude] = False
    warm_items, cold_items = np.flatnonzero(~cold & candidates), np.flatnonzero(cold & candidates)
    new_target = np.array([bool(cold[np.asarray(t, dtype=np.int64)].any()) for t in cases.targets])
    if int(new_target.sum()) < min_targets or not len(warm_items) or not len(cold_items):
        return None
    where_warm = np.full(len(cold), -1)
    where_warm[warm_items] = np.arange(len(warm_items))
    where_cold = np.full(len(cold), -1)
    where_cold[cold_items] = np.arange(len(cold_items))
    n, c = len(cases.users), len(cold_blends)
    warm_top = np.empty((n, k), dtype=np.float64)
    cold_top = np.empty((c, n, k), dtype=np.float64)
    # per target: its case, whether it is cold, its score, and how many of its own group rank above
    t_case: list[np.ndarray] = []
    t_cold: list[np.ndarray] = []
    t_value: list[np.ndarray] = []  # (c, targets): the warm targets' value repeated
    t_ahead: list[np.ndarray] = []  # (c, targets)
    for start in range(0, n, batch_size):
        histories = cases.histories[start : start + batch_size]
        targets = cases.targets[start : start + batch_size]
        matrices = parts(histories)
        rows = np.repeat(np.arange(len(histories)), [len(h) for h in histories])
        cols = np.concatenate([np.asarray(h, dtype=np.int64) for h in histories] or [rows])
        warm = _weighted({name: m[:, warm_items] for name, m in matrices.items()}, warm_blend)
        new = {name: m[:, cold_items] for name, m in matrices.items()}  # sliced once, weighted per blend
        in_warm = where_warm[cols] >= 0
        warm[rows[in_warm], where_warm[cols[in_warm]]] = -np.inf
        warm_top[start : start + len(histories)] = _best(warm, k)
        target_rows = np.repeat(np.arange(len(targets)), [len(t) for t in targets])
        target_items = np.concatenate([np.asarray(t, dtype=np.int64) for t in targets] or [target_rows])
        keep = (where_warm[target_items] >= 0) | (where_cold[target_items] >= 0)  # excluded: never found
        target_rows, target_items = target_rows[keep], target_items[keep]
        is_cold = where_cold[target_items] >= 0
        values = np.full((c, len(target_items)), np.nan)
        ahead = np.zeros((c, len(target_items)), dtype=np.int64)
        w_rows, w_pos = target_rows[~is_cold], where_warm[target_items[~is_cold]]
        values[:, ~is_cold] = warm[w_rows, w_pos]
        ahead[:, ~is_cold] = _ahead(warm, w_rows, w_pos)
        in_cold = where_cold[cols] >= 0
        c_rows, c_pos = target_rows[is_cold], where_cold[target_items[is_cold]]
        for b, blend in enumerate(cold_blends):
            scores = _weighted(new, blend)
            scores[rows[in_cold], where_cold[cols[in_cold]]] = -np.inf
            cold_top[b, start : start + len(histories)] = _best(scores, k)
            values[b, is_cold] = scores[c_rows, c_pos]
            ahead[b, is_cold] = _ahead(scores, c_rows, c_pos)
        t_case.append(start + target_rows)
        t_cold.append(is_cold)
        t_value.append(values)
        t_ahead.append(ahead)
    case = np.concatenate(t_case)
    is_cold = np.concatenate(t_cold)
    value = np.concatenate(t_value, axis=1)
    ahead = np.concatenate(t_ahead, axis=1)
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    ideal = np.cumsum(discounts)[np.minimum([max(len(t), 1) for t in cases.targets], k) - 1]
    share = float(new_target.mean())
    ndcgs, offsets = [], []
    for b in range(c):
        offset = exposure_offset(slot_thresholds(warm_top, cold_top[b], k).ravel(), share)
        shifted = cold_top[b][case] + offset  # the case's best new products, offset added
        other = np.where(
            is_cold,
            (warm_top[case] > (value[b] + offset)[:, None]).sum(axis=1),
            (shifted > value[b][:, None]).sum(axis=1),
        )
        rank = 1 + ahead[b] + other
        found = np.isfinite(value[b]) & (rank <= k)
        gain = np.where(found, discounts[np.minimum(rank, k) - 1], 0.0)
        ndcgs.append(float((np.bincount(case, gain, minlength=n) / ideal).sum() / max(n, 1)))
        offsets.append(offset)
    return ExposureChoice(ndcgs, offsets, int(new_target.sum()))
