"""Calibration of new products against the rest, by maximum likelihood on validation.

An item with no training events of its own is scored from borrowed and text-derived parts whose
spread and level differ from those of items with learned IDs. Treating the blended scores as the
logits of a softmax over the items a validation case may have as its target, the items with no
events get their own weights for the parts and an offset:

    score(new item) = offset + sum over parts of cold weight[part] * part

fitted to maximise the likelihood of the validation targets (a conditional logit: the negative log
likelihood is convex in these parameters, so the optimum is unique). With the offset alone, the
optimum is where the probability the blend gives new products as a group, averaged over the cases,
equals the share of targets that are new; the weights let the fit also trust the part that
discriminates between new products best. Items with learned IDs keep the weights chosen for them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import torch

from semrec.data.splits import EvalCases
from semrec.models.base import PartScores

MAX_CELLS = 1 << 26  # new-item scores kept per part (cases x new items): ~256 MB of float32


@dataclass(frozen=True)
class ColdFit:
    """The fitted offset, the parts' weights for new items (only when enough targets asked for them)
    and the number of validation targets that were new products."""

    offset: float
    targets: int
    weights: dict[str, float] = field(default_factory=dict)


def fit_cold(
    cases: EvalCases,
    parts: PartScores,
    blend: Mapping[str, float],
    cold: np.ndarray,
    exclude: np.ndarray | None = None,
    min_targets: int = 50,
    min_weight_targets: int = 500,
    batch_size: int = 2048,
    seed: int = 0,
) -> ColdFit | None:
    """Fits the offset of ``cold`` items (those with no training events) and, with at least
    ``min_weight_targets`` new-product targets, their weight for each part, by maximum likelihood
    over ``cases`` (items in a case's history and ``exclude`` are not candidates). Warm items score
    ``sum(blend.get(name, 1.0) * part)``. None when fewer than ``min_targets`` targets are new."""
    cold = np.asarray(cold, dtype=bool)
    excluded = np.zeros(len(cold), dtype=bool)
    if exclude is not None and len(exclude):
        excluded[np.asarray(exclude, dtype=np.int64)] = True
    columns = np.flatnonzero(cold & ~excluded)  # the new items a case may have as its target
    if not len(columns) or cold.all():
        return None
    position = np.full(len(cold), -1, dtype=np.int64)
    position[columns] = np.arange(len(columns))
    order = np.arange(len(cases.users))
    if len(order) * len(columns) > MAX_CELLS:  # a fixed random subset of the cases
        keep = max(1, MAX_CELLS // len(columns))
        order = np.sort(np.random.default_rng(seed).choice(len(order), size=keep, replace=False))
    new_targets = sum(int((position[cases.targets[c]] >= 0).sum()) for c in order)
    if new_targets < min_targets:
        return None

    warm_lse, warm_target_sum, target_counts = [], [], []
    cold_parts: dict[str, list[np.ndarray]] = {}
    masks, target_rows, target_cols = [], [], []
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        histories = [np.asarray(cases.histories[r], dtype=np.int64) for r in rows]
        matrices = parts(histories)
        scores = sum(blend.get(name, 1.0) * m for name, m in matrices.items())
        assert isinstance(scores, np.ndarray)
        scores = scores.astype(np.float64)
        blocked = np.zeros(scores.shape, dtype=bool)
        hist_rows = np.repeat(np.arange(len(histories)), [len(h) for h in histories])
        blocked[hist_rows, np.concatenate(histories or [hist_rows])] = True
        blocked[:, excluded] = True
        warm = np.where(blocked | cold[None, :], -np.inf, scores)
        warm_lse.append(_logsumexp(warm))
        masks.append(~blocked[:, columns])
        for name, m in matrices.items():
            cold_parts.setdefault(name, []).append(m[:, columns].astype(np.float32))
        for i, r in enumerate(rows):
            targets = np.asarray(cases.targets[r], dtype=np.int64)
            targets = targets[~blocked[i, targets]]  # a target already in the history says nothing
            new = position[targets]
            target_rows.extend([start + i] * int((new >= 0).sum()))
            target_cols.extend(new[new >= 0].tolist())
            warm_target_sum.append(float(warm[i, targets[new < 0]].sum()))
            target_counts.append(len(targets))

    names = list(cold_parts)
    x = {name: torch.from_numpy(np.concatenate(cold_parts[name])).double() for name in names}
    mask = torch.from_numpy(np.concatenate(masks))
    lse_warm = torch.from_numpy(np.concatenate(warm_lse))
    counts = torch.tensor(target_counts, dtype=torch.float64)
    constant = float(np.sum(warm_target_sum))
    t_rows, t_cols = torch.tensor(target_rows), torch.tensor(target_cols, dtype=torch.int64)
    total = float(counts.sum())
    fit_weights = new_targets >= min_weight_targets
    start_weights = [float(blend.get(name, 1.0)) for name in names]
    weights = torch.tensor(start_weights, dtype=torch.float64, requires_grad=fit_weights)
    offset = torch.zeros(1, dtype=torch.float64, requires_grad=True)

    def loss() -> torch.Tensor:
        logits = offset + sum(w * x[name] for w, name in zip(weights, names, strict=True))
        assert isinstance(logits, torch.Tensor)
        chosen = logits[t_rows, t_cols].sum()
        logits = logits.masked_fill(~mask, -torch.inf)
        lse = torch.logaddexp(lse_warm, torch.logsumexp(logits, dim=1))
        return ((counts * lse).sum() - chosen - constant) / total

    params = [offset, weights] if fit_weights else [offset]
    optimiser = torch.optim.LBFGS(params, max_iter=200, line_search_fn="strong_wolfe", tolerance_change=1e-12)

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        value = loss()
        value.backward()  # type: ignore[no-untyped-call]
        return value

    optimiser.step(closure)  # type: ignore[no-untyped-call]
    fitted = {name: round(float(w), 4) for name, w in zip(names, weights.detach(), strict=True)}
    return ColdFit(
        offset=round(float(offset.detach()[0]), 4),
        targets=new_targets,
        weights=fitted if fit_weights else {},
    )


def _logsumexp(scores: np.ndarray) -> np.ndarray:
    top = scores.max(axis=1)
    safe = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):
        return safe + np.log(np.exp(scores - safe[:, None]).sum(axis=1))
