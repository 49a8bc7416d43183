"""The ranking stage: re-scores retrieval's top candidates with a gradient-boosted model (LightGBM).

Retrieval (:mod:`semrec.models.blend`) scores every item by one weighted sum; the ranker sees, for
each of its ``candidates`` best items, that sum and its parts, where the item stands in the list,
how its text and its title words relate to each of the shopper's last items, its popularity and
whether it is new, and learns from behaviour (the true next item against retrieval's other
candidates) how to order them. Its labels come from the validation split only (it is fitted by
:mod:`semrec.training.ranker_fit`): test targets never reach it.
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

if TYPE_CHECKING:
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
    # added to new products' log-odds where the list is ordered (cold_rule exposure: fitted so that
    # they hold their share of validation's top 10; see semrec.training.ranker_fit.fit_cold_shift)
    cold_shift: float = 0.0

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

    def log_odds(self, features: np.ndarray) -> np.ndarray:
        """The calibrated log-odds of :meth:`probabilities`."""
        a, b = self.platt
        return a * self.scores(features) + b

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        """p(the shopper's next item is this one | it is among the candidates), calibrated."""
        return 1.0 / (1.0 + np.exp(-self.log_odds(features)))

    def order_scores(self, features: np.ndarray) -> np.ndarray:
        """What a list is ordered by, offline and in the server alike: :meth:`probabilities`, with
        new products' log-odds raised by :attr:`cold_shift` (the same thing when it is 0)."""
        odds = self.log_odds(features)
        if self.cold_shift:
            odds = odds + self.cold_shift * features[..., FEATURES.index("new")]
        return 1.0 / (1.0 + np.exp(-odds))

    def unshifted(self, scores: np.ndarray, new: np.ndarray) -> np.ndarray:
        """The calibrated probabilities behind :meth:`order_scores` ``scores`` of candidates whose
        ``new`` flags are given (what an ad's pCTR reads: the shift orders, it does not predict)."""
        if not self.cold_shift:
            return scores
        with np.errstate(divide="ignore"):
            odds = np.log(scores) - np.log1p(-scores) - self.cold_shift * np.asarray(new, dtype=float)
        return 1.0 / (1.0 + np.exp(-odds))

    def rerank(self, shortlist: Candidates, k: int) -> np.ndarray:
        """(batch, k) the first ``n_candidates`` ordered by the ranker's score, best first (-1 slots
        last), then the rest of a longer shortlist in retrieval order."""
        return self.ranked(shortlist, k)[0]

    def ranked(self, shortlist: Candidates, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(items, scores), each (batch, k), as :meth:`rerank` orders them (:meth:`order_scores`);
        the score is NaN past the first :attr:`width` (retrieval's order, not re-scored)."""
        head = slice(0, self.width)
        p = self.order_scores(shortlist.features[:, head])
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
                    "cold_shift": self.cold_shift,
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
        shift = float(meta.get("cold_shift", 0.0))  # rankers saved before it: none
        return cls(booster, int(meta["candidates"]), platt, fresh, tuple(meta["features"]), shift)
