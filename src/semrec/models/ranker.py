"""The ranking stage: re-scores retrieval's top candidates with a gradient-boosted model (LightGBM).

Retrieval (:mod:`semrec.models.blend`) scores every item by one weighted sum; the ranker sees, for
each of its ``candidates`` best items, that sum and its parts, where the item stands in the list,
how its text and its title words relate to each of the shopper's last items, its popularity and
whether it is new, and learns from behaviour (the true next item against retrieval's other
candidates) how to order them.
Its labels come from the validation split only (see :func:`fit_ranker`): test targets never reach it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from semrec.models.base import top_k
from semrec.models.blend import PRIOR_FLOOR, blend_parts
from semrec.models.calibration import holdout_ndcg, platt_fit

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
    "words",
    "words_last",
    "words_max10",
)
SIMILAR = 0.8  # text cosine at which a history item counts as "similar" to the candidate
RECENT = 10  # history items the text features compare each candidate with
HISTORY_CAP = 50  # history length feature: the server keeps a shopper's last 50 events


@contextmanager
def without_ranker(model: object) -> Iterator[None]:
    """Within the block, ``model`` answers by retrieval alone (its ranking stage, if any, set aside)."""
    stage = getattr(model, "ranker", None)
    if stage is None:
        yield
        return
    model.ranker = None  # type: ignore[attr-defined]
    try:
        yield
    finally:
        model.ranker = stage  # type: ignore[attr-defined]


class NothingToLearn(ValueError):
    """Validation holds no case the ranking stage could learn an order from."""


@dataclass
class Candidates:
    """Retrieval's shortlist of a batch of shoppers and the ranker's features for each pair."""

    items: np.ndarray  # (batch, n) item indices, retrieval order; -1 where nothing is left
    features: np.ndarray  # (batch, n, len(FEATURES)) float32


def features(
    blended: np.ndarray,
    network: np.ndarray,
    prior: np.ndarray | None,
    text: np.ndarray | None,
    new: np.ndarray,
    counts: np.ndarray,
    cosines: Sequence[np.ndarray | None],
    pair: np.ndarray | None,
    history_lengths: np.ndarray,
    words: np.ndarray | None = None,
    word_cosines: Sequence[np.ndarray | None] = (),
) -> np.ndarray:
    """(batch, n, len(FEATURES)) from per-candidate arrays (batch, n), candidates in retrieval order:
    the blended score and its parts (``words``: the title-word affinity), whether each is ``new``
    and its training ``counts``, the ``cosines`` (n, m) of its text and the ``word_cosines`` (n, m)
    of its title words to the shopper's last m <= 10 items (most recent first; None or left out
    without them), its log co-occurrence with the last item (``pair``) and the history's length.
    The offline ranker (:func:`candidates`) and the server call this one function."""
    out = np.zeros((*blended.shape, len(FEATURES)), dtype=np.float32)
    column = {name: i for i, name in enumerate(FEATURES)}

    def put(name: str, values: np.ndarray) -> None:
        out[:, :, column[name]] = values

    put("blend", blended)
    put("network", network)
    if prior is not None:
        put("prior", prior)
    if text is not None:
        put("text", text)
    put("rank", np.broadcast_to(np.arange(blended.shape[1], dtype=np.float32), blended.shape))
    put("gap_to_top", blended - blended[:, :1])
    put("new", new.astype(np.float32))
    put("log_count", np.log1p(counts).astype(np.float32))
    put("history_length", np.minimum(history_lengths, HISTORY_CAP).astype(np.float32)[:, None])
    for row, cos in enumerate(cosines):
        if cos is None or not cos.shape[1]:
            continue
        for offset, name in enumerate(("cos_last", "cos_second", "cos_third")):
            if offset < cos.shape[1]:
                out[row, :, column[name]] = cos[:, offset]
        out[row, :, column["cos_max10"]] = cos.max(axis=1)
        similar = cos >= SIMILAR
        out[row, :, column["steps_to_similar"]] = np.where(
            similar.any(axis=1), similar.argmax(axis=1), RECENT
        )
    if pair is not None:
        put("pair_prior", pair)
    if words is not None:
        put("words", words)
    for row, cos in enumerate(word_cosines):
        if cos is not None and cos.shape[1]:
            out[row, :, column["words_last"]] = cos[:, 0]
            out[row, :, column["words_max10"]] = cos.max(axis=1)
    return out


def fresh_items(
    blended: np.ndarray,
    cold: np.ndarray,
    taken: np.ndarray,
    fresh: int,
    exclude: Sequence[np.ndarray] | None,
) -> np.ndarray:
    """(batch, fresh) the best-blended new products (``cold``) per row that are not in ``taken``
    (-1 where fewer are left): a second source of candidates, so new products the blend ranks
    below its shortlist still reach the ranking stage, which decides on their features."""
    scores = np.where(cold[None, :], blended, -np.inf)
    rows = np.repeat(np.arange(len(scores)), taken.shape[1])
    keep = taken.ravel() >= 0
    scores[rows[keep], taken.ravel()[keep]] = -np.inf
    return top_k(scores, fresh, exclude)


def pair_term(raw: np.ndarray) -> np.ndarray:
    """The pair_prior feature from item-kNN scores of the candidates given the last item alone."""
    return np.log(raw + PRIOR_FLOOR)


def candidates(
    model: SequentialRecommender,
    histories: Sequence[np.ndarray],
    n: int,
    exclude: Sequence[np.ndarray] | None = None,
    never: np.ndarray | None = None,
    fresh: int = 0,
    head: int | None = None,
) -> Candidates:
    """Retrieval's ``n`` best items per history (never one of ``exclude[row]``, nor of ``never``)
    and their features; with ``fresh``, the best new products retrieval left out of its first
    ``head`` (default ``n``) follow them, up to ``fresh`` of them, then the rest of the ``n``."""
    parts = model.score_parts(histories)
    cold = model.counts == 0
    blended = blend_parts(parts, model.weights, cold)
    if never is not None and len(never):
        blended[:, never] = -np.inf
    items = top_k(blended.copy(), n, exclude)
    if fresh > 0 and cold.any():
        cut = n if head is None else min(head, n)
        extra = fresh_items(blended, cold, items[:, :cut], fresh, exclude)
        rest = items[:, cut:].copy()
        rest[(rest[:, :, None] == extra[:, None, :]).any(axis=2) & (rest >= 0)] = -1  # shown once
        rest = np.take_along_axis(rest, np.argsort(rest < 0, axis=1, kind="stable"), axis=1)
        items = np.concatenate([items[:, :cut], extra, rest], axis=1)
    safe = np.maximum(items, 0)
    rows = np.arange(len(histories))[:, None]
    unit = model.affinity
    vectors = model.word_vectors if "words" in parts else None
    cosines: list[np.ndarray | None] = []
    word_cosines: list[np.ndarray | None] = []
    for row, history in enumerate(histories):
        recent = np.asarray(history[-RECENT:], dtype=np.int64)[::-1]  # most recent first
        cosines.append(None if unit is None else unit[safe[row]] @ unit[recent].T)
        if vectors is not None:
            word_cosines.append(np.asarray((vectors[safe[row]] @ vectors[recent].T).todense()))
    pair = None
    if model.prior is not None:  # co-occurrence with the last item alone
        pair = pair_term(model.prior.score([h[-1:] for h in histories])[rows, safe])
    out = features(
        blended[rows, safe],
        parts["network"][rows, safe],
        parts["prior"][rows, safe] if "prior" in parts else None,
        parts["text"][rows, safe] if "text" in parts else None,
        cold[safe],
        model.counts[safe],
        cosines,
        pair,
        np.array([len(h) for h in histories]),
        parts["words"][rows, safe] if "words" in parts else None,
        word_cosines,
    )
    return Candidates(items, out)


@dataclass
class Ranker:
    """A fitted LightGBM booster over :data:`FEATURES` and a Platt calibration of its scores into
    p(the shopper's next item is this one | it is among the candidates)."""

    booster: Any  # lightgbm.Booster
    n_candidates: int
    platt: tuple[float, float] = (1.0, 0.0)
    fresh: int = 0  # new products added to the candidates beyond retrieval's best n_candidates
    # the FEATURES it reads (those a ranker saved before later ones were added, for example)
    reads: tuple[str, ...] = FEATURES

    @property
    def width(self) -> int:
        """How many candidates it re-scores: retrieval's best ones and the fresh ones."""
        return self.n_candidates + self.fresh

    def scores(self, features: np.ndarray) -> np.ndarray:
        """The booster's scores of ``features`` (..., len(FEATURES)), as :func:`features` gives them."""
        if self.reads != FEATURES:
            features = features[..., [FEATURES.index(name) for name in self.reads]]
        flat = features.reshape(-1, features.shape[-1])
        return np.asarray(self.booster.predict(flat, num_threads=1), dtype=np.float64).reshape(
            features.shape[:-1]
        )

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        a, b = self.platt
        return 1.0 / (1.0 + np.exp(-(a * self.scores(features) + b)))

    def rerank(self, shortlist: Candidates, k: int) -> np.ndarray:
        """(batch, k) the first ``n_candidates`` ordered by the ranker's score, best first (-1 slots
        last), then the rest of a longer shortlist in retrieval order."""
        return self.ranked(shortlist, k)[0]

    def ranked(self, shortlist: Candidates, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(items, probabilities), each (batch, k), as :meth:`rerank` orders them; the probability
        is NaN past the first :attr:`width` (retrieval's order, not re-scored)."""
        head = slice(0, self.width)
        p = self.probabilities(shortlist.features[:, head])
        p[shortlist.items[:, head] < 0] = -np.inf
        order = np.argsort(-p, axis=1, kind="stable")
        items = shortlist.items.copy()
        items[:, head] = np.take_along_axis(shortlist.items[:, head], order, axis=1)
        chance = np.full(items.shape, np.nan)
        chance[:, head] = np.take_along_axis(p, order, axis=1)
        # empty slots (-1) of the head last, so a longer list's retrieval tail fills them
        last = np.argsort(items < 0, axis=1, kind="stable")
        items, chance = np.take_along_axis(items, last, axis=1), np.take_along_axis(chance, last, axis=1)
        return items[:, :k], chance[:, :k]

    def save(self, directory: Path) -> None:
        import json

        directory.mkdir(parents=True, exist_ok=True)
        self.booster.save_model(str(directory / "ranker.txt"))
        (directory / "ranker.json").write_text(
            json.dumps(
                {
                    "features": list(self.reads),
                    "candidates": self.n_candidates,
                    "fresh": self.fresh,
                    "platt": list(self.platt),
                }
            )
        )

    @classmethod
    def load(cls, directory: Path) -> Ranker:
        import json

        import lightgbm

        meta = json.loads((directory / "ranker.json").read_text())
        unknown = [name for name in meta["features"] if name not in FEATURES]
        if unknown:
            raise ValueError(
                f"{directory}: the ranker reads features this version does not compute: {unknown}; "
                f"known: {list(FEATURES)}"
            )
        booster = lightgbm.Booster(model_file=str(directory / "ranker.txt"))
        platt = (float(meta["platt"][0]), float(meta["platt"][1]))
        fresh = int(meta.get("fresh", 0))
        return cls(booster, int(meta["candidates"]), platt, fresh, tuple(meta["features"]))


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


def fit_ranker(
    model: SequentialRecommender,
    cases: EvalCases,
    n: int = 100,
    holdout: float = 0.2,
    seed: int = 0,
    rounds: int = 500,
    never: np.ndarray | None = None,
    fresh: int = 0,
) -> tuple[Ranker, dict[str, Any]]:
    """Trains the ranker on ``cases`` (validation: never test), a lambdarank objective on NDCG@10;
    a ``holdout`` share of the shoppers stops boosting early and fits the Platt calibration. Items
    in ``never`` are no candidates (see :func:`training_pairs`)."""
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
    }
    return ranker, info
