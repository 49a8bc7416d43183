"""The score a sequential model ranks by, offline (``evaluate``, ``recommend``) and in the server alike.

    score = network logit + prior weight * co-occurrence term + text weight * text affinity
            + words weight * title-word affinity
            (+ cold offset, for an item with no training events of its own)

An item with no training events may weigh its co-occurrence, text and title-word terms by weights of
its own (``cold_prior``, ``cold_text``, ``cold_words``), chosen on validation.

- network logit: the shopper's query vector times the item's vector (for an item with no ID of its
  own, the adapted text plus the ID part it borrows from its text neighbours);
- co-occurrence term: ``log(item-kNN score + floor)``; an item nobody bought in training has no
  co-occurrence of its own and takes the mean item-kNN score of the same text neighbours;
- text affinity: the cosine of the item's text to the shopper's recent titles;
- title-word affinity: the TF-IDF cosine of the item's title words to the shopper's recent ones
  (:mod:`semrec.models.words`): the brand and line names a sentence encoder blurs;
- new products' own weights: how new products are ordered among themselves (text and title words
  tell new products apart better than the ID part they borrow, so they may deserve more weight
  there than among trained items), chosen on validation;
- cold offset: one number fitted by maximum likelihood on validation (when validation holds new
  products), so that the probability the blend gives new products as a group matches how often
  validation shoppers chose one: new products are scored on the same scale as the rest.

Each part depends on the shopper and the item only, never on which other items are scored with it,
so the server, scoring a shortlist, gives every item exactly the score the offline model gives it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from semrec.models.base import recency_profiles

PRIOR_FLOOR = 1e-3  # items the co-occurrence graph does not reach get log(PRIOR_FLOOR)


@dataclass(frozen=True)
class BlendWeights:
    prior: float = 0.0  # co-occurrence term
    text: float = 0.0  # text affinity
    cold: float = 0.0  # added to items with no training events of their own
    # the co-occurrence and text weights of items with no training events (None: prior, text)
    cold_prior: float | None = None
    cold_text: float | None = None
    words: float = 0.0  # title-word affinity
    cold_words: float | None = None  # the title-word weight of items with no training events

    @property
    def new_prior(self) -> float:
        return self.prior if self.cold_prior is None else self.cold_prior

    @property
    def new_text(self) -> float:
        return self.text if self.cold_text is None else self.cold_text

    @property
    def new_words(self) -> float:
        return self.words if self.cold_words is None else self.cold_words

    @property
    def uses_prior(self) -> bool:
        return self.prior > 0 or self.new_prior > 0

    @property
    def uses_text(self) -> bool:
        return self.text > 0 or self.new_text > 0

    @property
    def uses_words(self) -> bool:
        return self.words > 0 or self.new_words > 0

    @property
    def active(self) -> bool:
        return self.uses_prior or self.uses_text or self.uses_words or self.cold != 0


def text_affinity(
    histories: Sequence[np.ndarray], unit_text: np.ndarray, decay: float, metric: np.ndarray | None = None
) -> np.ndarray:
    """(shoppers, items) cosine between each item's text vector and the shopper's text profile: the
    recency-weighted (``decay`` per step back) mean of their items' unit text vectors. It knows every
    item with a title, so it ranks a product nobody has bought yet on the same footing as the rest.
    With a learned ``metric`` (dim, dim; :mod:`semrec.models.text_metric`): profile @ metric @ text."""
    return shopper_taste(recency_profiles(histories, unit_text, decay), metric) @ unit_text.T


def shopper_taste(profiles: np.ndarray, metric: np.ndarray | None) -> np.ndarray:
    """(shoppers, dim) what the text-affinity term multiplies item text vectors by: the unit text
    profiles, through the learned metric when there is one."""
    return profiles if metric is None else (profiles @ metric).astype(np.float32)


@dataclass(frozen=True)
class Donors:
    """Per item, the seen items whose text is closest to its own (item indices) and their weights,
    a softmax of the cosines over a temperature; a row with fewer donors has weight 0 in the rest."""

    items: np.ndarray  # (n, neighbours) int64
    weights: np.ndarray  # (n, neighbours) float32


def text_neighbours(
    unit_text: np.ndarray,
    donor_text: np.ndarray,
    donor_items: np.ndarray,
    neighbours: int,
    temperature: float,
    own_items: np.ndarray | None = None,
) -> Donors:
    """The ``neighbours`` rows of ``donor_text`` (unit text vectors of the seen items ``donor_items``)
    closest to each row of ``unit_text``. With ``own_items`` (the item index of each row), an item is
    never its own donor: a seen item whose ID is hidden in training borrows as a new one would."""
    k = max(0, min(neighbours, len(donor_items)))
    items = np.zeros((len(unit_text), max(neighbours, 1)), dtype=np.int64)
    weights = np.zeros((len(unit_text), max(neighbours, 1)), dtype=np.float32)
    if k == 0 or temperature <= 0:
        return Donors(items, weights)
    block = max(1, (1 << 24) // len(donor_items))  # rows at a time: ~64 MB of similarities
    for start in range(0, len(unit_text), block):
        sims = unit_text[start : start + block].astype(np.float32) @ donor_text.T.astype(np.float32)
        if own_items is not None:
            sims[donor_items[None, :] == own_items[start : start + len(sims), None]] = -np.inf
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        best = np.take_along_axis(sims, top, axis=1)
        order = np.argsort(-best, axis=1, kind="stable")  # closest first
        top, best = np.take_along_axis(top, order, axis=1), np.take_along_axis(best, order, axis=1)
        # an item that is itself a donor has one fewer: its own slot (-inf) gets weight 0
        share = np.where(np.isfinite(best), np.exp((best - best[:, :1]) / temperature), 0.0)
        items[start : start + len(sims), :k] = donor_items[top]
        weights[start : start + len(sims), :k] = share / np.maximum(share.sum(axis=1, keepdims=True), 1e-30)
    return Donors(items, weights)


def borrowed_prior(donor_scores: np.ndarray, donor_weights: np.ndarray) -> np.ndarray:
    """(shoppers, items) item-kNN scores of items with no co-occurrence of their own: the weighted mean
    of their text neighbours' scores, ``donor_scores`` (shoppers, items, neighbours) with
    ``donor_weights`` (items, neighbours), the weights their ID parts are borrowed with."""
    return np.einsum("bin,in->bi", donor_scores, donor_weights)


def prior_term(scores: np.ndarray) -> np.ndarray:
    """``log(item-kNN score + floor)``, elementwise."""
    return np.log(scores + PRIOR_FLOOR)


def blend(
    network: np.ndarray,
    weights: BlendWeights,
    prior: np.ndarray | None,
    text: np.ndarray | None,
    cold: np.ndarray | None = None,
    words: np.ndarray | None = None,
) -> np.ndarray:
    """(shoppers, items) final scores from the network logits and the unweighted parts (a part that is
    None, or weighted 0, adds nothing); ``cold`` (items,) marks items with no training events, which
    take the new products' weights."""
    out = network.astype(np.float32, copy=True)
    terms = (
        (prior, weights.prior, weights.new_prior),
        (text, weights.text, weights.new_text),
        (words, weights.words, weights.new_words),
    )
    for part, warm, new in terms:
        if part is None or (warm <= 0 and new <= 0):
            continue
        if cold is None or warm == new:
            out += np.float32(warm) * part
        else:  # one weight per item: the new products' where cold
            out += np.where(cold, np.float32(max(new, 0.0)), np.float32(max(warm, 0.0))) * part
    if cold is not None and weights.cold != 0:
        out += np.float32(weights.cold) * cold
    return out


def blend_parts(
    parts: Mapping[str, np.ndarray], weights: BlendWeights, cold: np.ndarray | None
) -> np.ndarray:
    """:func:`blend` of named parts ('network', and any of 'prior', 'text', 'words'), as
    ``score_parts`` gives them offline and in the server."""
    return blend(parts["network"], weights, parts.get("prior"), parts.get("text"), cold, parts.get("words"))
