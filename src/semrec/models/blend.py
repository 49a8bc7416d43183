"""The score a sequential model ranks by, offline (``evaluate``, ``recommend``) and in the server alike.

    score = network logit + prior weight * co-occurrence term + text weight * text affinity
            (+ cold offset, for an item with no training events of its own)

- network logit: the shopper's query vector times the item's vector (for an item with no ID of its
  own, the adapted text plus the ID part it borrows from its text neighbours);
- co-occurrence term: ``log(item-kNN score + floor)``; an item nobody bought in training has no
  co-occurrence of its own and takes the mean item-kNN score of the same text neighbours;
- text affinity: the cosine of the item's text to the shopper's recent titles;
- cold offset: one number fitted by maximum likelihood on validation (when validation holds new
  products), so that the probability the blend gives new products as a group matches how often
  validation shoppers chose one: new products are scored on the same scale as the rest.

Each part depends on the shopper and the item only, never on which other items are scored with it,
so the server, scoring a shortlist, gives every item exactly the score the offline model gives it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from semrec.models.base import recency_profiles

PRIOR_FLOOR = 1e-3  # items the co-occurrence graph does not reach get log(PRIOR_FLOOR)


@dataclass(frozen=True)
class BlendWeights:
    prior: float = 0.0  # co-occurrence term
    text: float = 0.0  # text affinity
    cold: float = 0.0  # added to items with no training events of their own

    @property
    def active(self) -> bool:
        return self.prior > 0 or self.text > 0 or self.cold != 0


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
) -> np.ndarray:
    """(shoppers, items) final scores from the network logits and the unweighted parts (a part that is
    None, or weighted 0, adds nothing); ``cold`` (items,) marks items with no training events."""
    out = network.astype(np.float32, copy=True)
    if prior is not None and weights.prior > 0:
        out += weights.prior * prior
    if text is not None and weights.text > 0:
        out += weights.text * text
    if cold is not None and weights.cold != 0:
        out += np.float32(weights.cold) * cold
    return out
