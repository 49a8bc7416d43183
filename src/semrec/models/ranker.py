"""The ranking stage: re-scores retrieval's top candidates with a gradient-boosted model (LightGBM).

Retrieval (:mod:`semrec.models.blend`) scores every item by one weighted sum; the ranker sees, for
each of its ``candidates`` best items, that sum and its parts, where the item stands in the list,
how its text relates to each of the shopper's last items, its popularity and whether it is new, and
learns from behaviour (the true next item against retrieval's other candidates) how to order them.
Its labels come from the validation split only (see :func:`fit_ranker`): test targets never reach it.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from semrec.models.base import top_k
from semrec.models.blend import blend

if TYPE_CHECKING:
    from semrec.data.splits import EvalCases
    from semrec.models.sequential import SequentialRecommender

FEATURES = (
    "blend",
    "network",
    "prior",
    "text",
    "rank",
    "gap_to_top",
    "new",
    "log_count",
    "cos_last",
    "cos_second",
    "cos_third",
    "cos_max10",
    "steps_to_similar",
    "pair_prior",
    "history_length",
)
SIMILAR = 0.8  # text cosine at which a history item counts as "similar" to the candidate


@dataclass
class Candidates:
    """Retrieval's shortlist of a batch of shoppers and the ranker's features for each pair."""

    items: np.ndarray  # (batch, n) item indices, retrieval order; -1 where nothing is left
    features: np.ndarray  # (batch, n, len(FEATURES)) float32


def candidates(model: SequentialRecommender, histories: Sequence[np.ndarray], n: int) -> Candidates:
    """Retrieval's ``n`` best items per history (history excluded) and their features."""
    parts = model.score_parts(histories)
    cold = model.counts == 0
    blended = blend(parts["network"], model.weights, parts.get("prior"), parts.get("text"), cold)
    items = top_k(blended.copy(), n, histories)
    safe = np.maximum(items, 0)
    rows = np.arange(len(histories))[:, None]
    out = np.zeros((*items.shape, len(FEATURES)), dtype=np.float32)
    column = {name: i for i, name in enumerate(FEATURES)}

    def put(name: str, values: np.ndarray) -> None:
        out[:, :, column[name]] = values

    put("blend", blended[rows, safe])
    put("network", parts["network"][rows, safe])
    if "prior" in parts:
        put("prior", parts["prior"][rows, safe])
    if "text" in parts:
        put("text", parts["text"][rows, safe])
    put("rank", np.broadcast_to(np.arange(items.shape[1], dtype=np.float32), items.shape))
    put("gap_to_top", blended[rows, safe] - blended[rows, safe[:, :1]])
    put("new", cold[safe].astype(np.float32))
    put("log_count", np.log1p(model.counts[safe]).astype(np.float32))
    put("history_length", np.broadcast_to(np.array([[len(h)] for h in histories], np.float32), items.shape))
    unit = model.affinity
    if unit is not None:
        for row, history in enumerate(histories):
            if not len(history):
                continue
            recent = np.asarray(history[-10:])[::-1]  # most recent first
            cos = unit[safe[row]] @ unit[recent].T  # (n, up to 10)
            for offset, name in enumerate(("cos_last", "cos_second", "cos_third")):
                if offset < cos.shape[1]:
                    out[row, :, column[name]] = cos[:, offset]
            out[row, :, column["cos_max10"]] = cos.max(axis=1)
            similar = cos >= SIMILAR
            out[row, :, column["steps_to_similar"]] = np.where(
                similar.any(axis=1), similar.argmax(axis=1), 10
            )
    if model.prior is not None:  # co-occurrence with the last item alone
        last = [h[-1:] for h in histories]
        put("pair_prior", np.log(model.prior.score(last)[rows, safe] + 1e-3))
    return Candidates(items, out)


@dataclass
class Ranker:
    """A fitted LightGBM booster over :data:`FEATURES` and a Platt calibration of its scores into
    p(the shopper's next item is this one | it is among the candidates)."""

    booster: Any  # lightgbm.Booster
    n_candidates: int
    platt: tuple[float, float] = (1.0, 0.0)

    def scores(self, features: np.ndarray) -> np.ndarray:
        flat = features.reshape(-1, features.shape[-1])
        return np.asarray(self.booster.predict(flat, num_threads=1), dtype=np.float64).reshape(
            features.shape[:-1]
        )

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        a, b = self.platt
        return 1.0 / (1.0 + np.exp(-(a * self.scores(features) + b)))

    def rerank(self, shortlist: Candidates, k: int) -> np.ndarray:
        """(batch, k) the candidates ordered by the ranker's score, best first (-1 slots stay last)."""
        scores = self.scores(shortlist.features)
        scores[shortlist.items < 0] = -np.inf
        order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        return np.take_along_axis(shortlist.items, order, axis=1)

    def save(self, directory: Path) -> None:
        import json

        directory.mkdir(parents=True, exist_ok=True)
        self.booster.save_model(str(directory / "ranker.txt"))
        (directory / "ranker.json").write_text(
            json.dumps(
                {"features": list(FEATURES), "candidates": self.n_candidates, "platt": list(self.platt)}
            )
        )

    @classmethod
    def load(cls, directory: Path) -> Ranker:
        import json

        import lightgbm

        meta = json.loads((directory / "ranker.json").read_text())
        if meta["features"] != list(FEATURES):
            raise ValueError(f"{directory}: the ranker was trained on other features: {meta['features']}")
        booster = lightgbm.Booster(model_file=str(directory / "ranker.txt"))
        return cls(booster, int(meta["candidates"]), tuple(meta["platt"]))


def training_pairs(
    model: SequentialRecommender, cases: EvalCases, n: int, batch_size: int = 1024, every_case: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(features (pairs, F), labels (pairs,), group sizes) of the cases whose target retrieval put
    among its ``n`` candidates (the others teach a ranker nothing about order), or of ``every_case``
    (what a probability of the next item, shown among the candidates, is calibrated on)."""
    features, labels, groups = [], [], []
    for start in range(0, len(cases.users), batch_size):
        histories = cases.histories[start : start + batch_size]
        shortlist = candidates(model, histories, n)
        for row, targets in enumerate(cases.targets[start : start + batch_size]):
            valid = shortlist.items[row] >= 0
            label = np.isin(shortlist.items[row][valid], targets)
            if label.any() or every_case:
                features.append(shortlist.features[row][valid])
                labels.append(label.astype(np.float32))
                groups.append(int(valid.sum()))
    if not groups:
        return np.zeros((0, len(FEATURES)), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64)
    return np.concatenate(features), np.concatenate(labels), np.array(groups, dtype=np.int64)


def fit_ranker(
    model: SequentialRecommender,
    cases: EvalCases,
    n: int = 100,
    holdout: float = 0.2,
    seed: int = 0,
    rounds: int = 500,
) -> tuple[Ranker, dict[str, Any]]:
    """Trains the ranker on ``cases`` (validation: never test), a lambdarank objective on NDCG@10;
    a ``holdout`` share of the shoppers stops boosting early and fits the Platt calibration."""
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

    fit_x, fit_y, fit_g = training_pairs(model, subset(order[:cut]), n)
    # the holdout's candidates once: every case for the calibration, those holding their target
    # for early stopping
    all_x, all_y, all_g = training_pairs(model, subset(order[cut:]), n, every_case=True)
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
    train_set = lightgbm.Dataset(fit_x, fit_y, group=fit_g, feature_name=list(FEATURES))
    hold_set = lightgbm.Dataset(hold_x, hold_y, group=hold_g, reference=train_set)
    booster = lightgbm.train(
        params,
        train_set,
        num_boost_round=rounds,
        valid_sets=[hold_set],
        callbacks=[lightgbm.early_stopping(30, verbose=False)],
    )
    ranker = Ranker(booster, n)
    ranker.platt = platt_fit(ranker.scores(all_x[None])[0], all_y)
    info = {
        "fit_cases": len(fit_g),
        "holdout_cases": len(hold_g),
        "pairs": len(fit_y),
        "best_iteration": int(booster.best_iteration),
        "holdout_ndcg@10_within_candidates": float(booster.best_score["valid_0"]["ndcg@10"]),
        "platt": list(ranker.platt),
    }
    return ranker, info


def platt_fit(scores: np.ndarray, labels: np.ndarray, steps: int = 200) -> tuple[float, float]:
    """Logistic regression of ``labels`` on ``scores`` (Newton's method): p = sigmoid(a s + b)."""
    a, b = 1.0, 0.0
    x = np.stack([scores, np.ones_like(scores)], axis=1)
    w = np.array([a, b])
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-(x @ w)))
        gradient = x.T @ (p - labels)
        hessian = (x * (p * (1 - p))[:, None]).T @ x + 1e-9 * np.eye(2)
        step = np.linalg.solve(hessian, gradient)
        w = w - step
        if np.abs(step).max() < 1e-9:
            break
    return float(w[0]), float(w[1])


def calibration(probabilities: np.ndarray, labels: np.ndarray, bins: int = 15) -> dict[str, Any]:
    """Log loss, expected calibration error (equal-mass bins) and the reliability curve."""
    p = np.clip(probabilities.ravel(), 1e-7, 1 - 1e-7)
    y = labels.ravel().astype(np.float64)
    order = np.argsort(p, kind="stable")
    edges = np.linspace(0, len(p), bins + 1).astype(int)
    curve, ece = [], 0.0
    for lo, hi in itertools.pairwise(edges):
        if hi <= lo:
            continue
        chunk = order[lo:hi]
        predicted, observed = float(p[chunk].mean()), float(y[chunk].mean())
        ece += (hi - lo) / len(p) * abs(predicted - observed)
        curve.append({"predicted": predicted, "observed": observed, "pairs": int(hi - lo)})
    log_loss = float(-(y * np.log(p) + (1 - y) * np.log(1 - p)).mean())
    return {"log_loss": log_loss, "ece": float(ece), "pairs": len(p), "reliability": curve}
