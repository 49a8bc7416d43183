"""Fitting the ranking stage (:mod:`semrec.models.ranker`) on validation: its (shopper, candidate)
pairs and the LightGBM booster with its Platt calibration. Test targets never reach it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from semrec.evaluation.evaluator import exposure_offset, slot_thresholds
from semrec.models.calibration import holdout_ndcg, platt_fit
from semrec.models.ranker import FEATURES, NothingToLearn, Ranker, candidates

if TYPE_CHECKING:
    from semrec.data.splits import EvalCases
    from semrec.models.sequential import SequentialRecommender


def training_pairs(
    model: SequentialRecommender,
    cases: EvalCases,
    n: int,
    batch_size: int = 1024,
    every_case: bool = False,
    never: np.ndarray | None = None,
    fresh: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(features (pairs, F), labels (pairs,), group sizes) of the cases whose target retrieval put
    among its ``n`` candidates (the others teach a ranker nothing about order), or of ``every_case``
    (what a probability of the next item, shown among the candidates, is calibrated on). Items in
    ``never`` are no candidates (the test's hidden new products, when fitting on validation)."""
    rows, labels, groups = [], [], []
    for start in range(0, len(cases.users), batch_size):
        histories = cases.histories[start : start + batch_size]
        shortlist = candidates(model, histories, n, histories, never, fresh)
        for row, targets in enumerate(cases.targets[start : start + batch_size]):
            valid = shortlist.items[row] >= 0
            label = np.isin(shortlist.items[row][valid], targets)
            if label.any() or every_case:
                rows.append(shortlist.features[row][valid])
                labels.append(label.astype(np.float32))
                groups.append(int(valid.sum()))
    if not groups:
        return np.zeros((0, len(FEATURES)), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64)
    return np.concatenate(rows), np.concatenate(labels), np.array(groups, dtype=np.int64)


def fit_cold_shift(
    odds: np.ndarray,
    new: np.ndarray,
    groups: np.ndarray,
    share: float,
    k: int = 10,
) -> float:
    """The shift of new products' log-odds (``odds``, pairs of ``groups`` cases, ``new`` marking
    new products) at which they fill ``share`` of the cases' top-``k`` slots, averaged over the
    cases: the exposure rule of :func:`~semrec.evaluation.evaluator.fit_cold_offset`, applied to
    the list the ranking stage orders rather than to retrieval's."""
    width = int(groups.max()) if len(groups) else 0
    warm = np.full((len(groups), max(width, 1)), -np.inf)
    cold = warm.copy()
    rows = np.repeat(np.arange(len(groups)), groups)
    cols = np.arange(len(rows)) - np.repeat(np.cumsum(groups) - groups, groups)
    new = np.asarray(new, dtype=bool)
    warm[rows[~new], cols[~new]] = odds[~new]
    cold[rows[new], cols[new]] = odds[new]
    return exposure_offset(slot_thresholds(warm, cold, k).ravel(), share)


def fit_ranker(
    model: SequentialRecommender,
    cases: EvalCases,
    n: int = 100,
    holdout: float = 0.2,
    seed: int = 0,
    rounds: int = 500,
    never: np.ndarray | None = None,
    fresh: int = 0,
    cold_rule: str = "likelihood",
    min_cold_targets: int = 50,
) -> tuple[Ranker, dict[str, Any]]:
    """Trains the ranker on ``cases`` (validation: never test), a lambdarank objective on NDCG@10;
    a ``holdout`` share of the shoppers stops boosting early and fits the Platt calibration. Items
    in ``never`` are no candidates (see :func:`training_pairs`). With ``cold_rule="exposure"`` and
    ``min_cold_targets`` held-out shoppers whose next item is new, the held-out shoppers also fit
    :attr:`~semrec.models.ranker.Ranker.cold_shift` (:func:`fit_cold_shift`), so that new
    products keep in the ranked list the share of the top 10 that the cold offset gave them in
    retrieval's: the share of those shoppers whose next item is new."""
    import lightgbm

    from semrec.data.splits import EvalCases as Cases

    order = np.random.default_rng(seed).permutation(len(cases.users))
    cut = round(len(order) * (1 - holdout))

    def subset(index: np.ndarray) -> Cases:
        index = np.sort(index)
        return Cases(
            users=cases.users[index],
            histories=[cases.histories[i] for i in index],
            targets=[cases.targets[i] for i in index],
        )

    fit_x, fit_y, fit_g = training_pairs(model, subset(order[:cut]), n, never=never, fresh=fresh)
    # the holdout's candidates once: every case for the calibration, those holding their target
    # for early stopping
    all_x, all_y, all_g = training_pairs(
        model, subset(order[cut:]), n, every_case=True, never=never, fresh=fresh
    )
    positive = np.add.reduceat(all_y, np.r_[0, np.cumsum(all_g)[:-1]]) > 0 if len(all_g) else all_g > 0
    keep = np.repeat(positive, all_g)
    hold_x, hold_y, hold_g = all_x[keep], all_y[keep], all_g[positive]
    params = {
        "objective": "lambdarank",
        "metric": "ndcg",
        "eval_at": [10],
        "learning_rate": 0.05,
        "num_leaves": 31,
        "min_data_in_leaf": 50,
        "feature_fraction": 0.9,
        "lambdarank_truncation_level": 20,
        "num_threads": 2,
        "seed": seed,
        "verbosity": -1,
    }
    if not len(fit_g):
        raise NothingToLearn(
            f"no validation shopper's next item is among retrieval's {n} candidates: the ranking "
            "stage has nothing to learn from (more validation shoppers, or more candidates)"
        )
    train_set = lightgbm.Dataset(fit_x, fit_y, group=fit_g, feature_name=list(FEATURES))
    stopping: dict[str, Any] = {}
    if len(hold_g):  # a small validation split may leave the holdout no case to stop on
        stopping = {
            "valid_sets": [lightgbm.Dataset(hold_x, hold_y, group=hold_g, reference=train_set)],
            "callbacks": [lightgbm.early_stopping(30, verbose=False)],
        }
    booster = lightgbm.train(
        params, train_set, num_boost_round=rounds if stopping else min(rounds, 100), **stopping
    )
    ranker = Ranker(booster, n, fresh=fresh)
    holdout_scores = ranker.scores(all_x[None])[0]
    calibrated = 0 < all_y.sum() < len(all_y)
    if calibrated:
        ranker.platt = platt_fit(holdout_scores, all_y)
    # what decides whether the stage pays: NDCG@10 of the held-out shoppers (each one of them,
    # a target outside the candidates scoring 0) in retrieval's order and in the ranker's
    rank = all_x[:, FEATURES.index("rank")]
    compared = {
        "retrieval": holdout_ndcg(-rank, all_y, all_g, len(order) - cut),
        "ranker": holdout_ndcg(holdout_scores, all_y, all_g, len(order) - cut),
    }
    shift_info: dict[str, Any] = {}
    if cold_rule == "exposure":
        cold = model.counts == 0
        held = [cases.targets[i] for i in np.sort(order[cut:])]
        new_targets = int(sum(bool(cold[np.asarray(t, dtype=np.int64)].any()) for t in held))
        shift_info = {"cold_shift_targets": new_targets}
        if new_targets >= min_cold_targets and len(all_g):
            new = all_x[:, FEATURES.index("new")] > 0
            odds = ranker.log_odds(all_x[None])[0]
            ranker.cold_shift = fit_cold_shift(odds, new, all_g, new_targets / len(held))
            compared["ranker, new products shifted"] = holdout_ndcg(
                odds + ranker.cold_shift * new, all_y, all_g, len(order) - cut
            )
        shift_info["cold_shift"] = ranker.cold_shift
    info = {
        "fit_cases": len(fit_g),
        "holdout_cases": len(hold_g),
        "pairs": len(fit_y),
        "best_iteration": int(booster.best_iteration),
        "holdout_ndcg@10_within_candidates": (
            float(booster.best_score["valid_0"]["ndcg@10"]) if stopping else None
        ),
        "platt": list(ranker.platt),
        "calibrated": bool(calibrated),
        "holdout_ndcg@10": {name: round(value, 6) for name, value in compared.items()},
        **shift_info,
    }
    return ranker, info
