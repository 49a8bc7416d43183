"""Continual training: a trained sequential model, warm-started on the events a store gathered since
it was trained, with a replay sample of what it learned before (against forgetting).

The store is the shop's event log. Of its events, those up to ``dataset_events_through`` are already
in the model's dataset (a shop that loaded its history into the store says so once); those up to the
model's ``events_through`` were learned by earlier retrains; the rest are new. The newest share of
the new events (by arrival) is held out for the promotion gate (:mod:`semrec.training.promotion`).

Products the store holds and the model does not are added as the server scores them (their text
part plus an ID part borrowed from their text neighbours). A product that gained events gets an ID
part of its own, started at the part it borrowed, so its vector does not jump when it switches.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

from semrec.data.splits import EvalCases
from semrec.encoders.factory import load_encoder
from semrec.feedback.influence import InfluenceCaps
from semrec.models.base import TrainingData
from semrec.models.itemknn import ItemKNNRecommender
from semrec.models.sequential import SequentialRecommender
from semrec.schema import EventRow, Item
from semrec.training.trainer import TrainingLog, prefix_windows, train_loop

log = logging.getLogger("semrec.training")


@dataclass(frozen=True)
class RetrainSettings:
    epochs: int = 2  # passes over the new examples and their replay sample
    lr_scale: float = 0.3  # the learning rate, as a share of the model's own
    replay: float = 1.0  # older training examples replayed per new one
    holdout: float = 0.1  # the newest share of the new events, held out for the gate
    min_holdout: int = 10  # the gate needs at least this many held-out cases
    tolerance: float = 0.01  # how much of the reference NDCG@10 the candidate may lose
    reference_shoppers: int = 5000  # reference (validation) shoppers the gate scores, at most
    time_budget_minutes: float = 30.0
    seed: int = 0
    # which new events count (the servers' caps); events the model has already learned all count
    influence: InfluenceCaps = field(default_factory=InfluenceCaps)

    def check(self) -> None:
        problems = []
        if self.epochs < 1:
            problems.append(f"epochs must be 1 or more, got {self.epochs}")
        if self.lr_scale <= 0:
            problems.append(f"lr_scale must be above 0, got {self.lr_scale}")
        if self.replay < 0:
            problems.append(f"replay must be 0 or more, got {self.replay}")
        if not 0 < self.holdout < 1:
            problems.append(f"holdout must lie between 0 and 1, got {self.holdout}")
        if not 0 <= self.tolerance < 1:
            problems.append(f"tolerance must lie in [0, 1), got {self.tolerance}")
        if problems:
            raise ValueError("; ".join(problems))


@dataclass
class ShopLog:
    """The store's events as per-shopper sequences over a catalog: item indices and event ids,
    oldest first (events naming a product the catalog lacks are left out)."""

    items: dict[str, np.ndarray] = field(default_factory=dict)  # user key -> item indices
    ids: dict[str, np.ndarray] = field(default_factory=dict)  # user key -> event ids
    last_event: int = 0

    @classmethod
    def read(cls, rows: Sequence[EventRow], index_of: dict[str, int]) -> ShopLog:
        by_user: dict[str, list[tuple[float, int, int]]] = defaultdict(list)
        for event_id, user, item, ts, *_ in rows:
            row = index_of.get(item)
            if row is not None:
                by_user[user].append((ts, event_id, row))
        out = cls(last_event=max((r[0] for r in rows), default=0))
        for user, events in by_user.items():
            events.sort()  # the shopper's time order; arrival order among equal times
            out.items[user] = np.array([e[2] for e in events], dtype=np.int64)
            out.ids[user] = np.array([e[1] for e in events], dtype=np.int64)
        return out

    def between(self, after: int, through: int) -> list[np.ndarray]:
        """Per shopper, the items of the events with ids in (after, through] (training sequences)."""
        out = []
        for user, ids in self.ids.items():
            keep = (ids > after) & (ids <= through)
            if keep.sum():
                out.append(self.items[user][keep])
        return out

    def windows(self, after: int, through: int, max_len: int) -> list[np.ndarray]:
        """One example per event with an id in (after, through]: the shopper's (at most
        ``max_len``) items before it, then its item; an event with nothing before it teaches nothing."""
        out = []
        for user, ids in self.ids.items():
            items = self.items[user]
            for position in np.flatnonzero((ids > after) & (ids <= through)):
                if position > 0:
                    out.append(items[max(0, position - max_len) : position + 1])
        return out

    def cases(self, after: int, max_len: int) -> EvalCases:
        """Evaluation cases of the events after ``after``: the shopper's history before each, and
        its item as the target (left out: no history, or a target already in it, which full
        ranking with the history masked cannot count)."""
        users, histories, targets = [], [], []
        for number, user in enumerate(self.ids):
            items = self.items[user]
            for position in self._scorable(user, after):
                users.append(number)
                histories.append(items[max(0, position - max_len) : position])
                targets.append(np.array([items[position]], dtype=np.int64))
        return EvalCases(np.array(users, dtype=np.int64), histories, targets)

    def _scorable(self, user: str, after: int) -> list[int]:
        """Positions of the shopper's events after ``after`` that make an evaluation case."""
        ids, items = self.ids[user], self.items[user]
        return [
            int(p) for p in np.flatnonzero(ids > after) if p > 0 and items[p] not in set(items[:p].tolist())
        ]

    def holdout_start(self, after: int, share: float) -> int:
        """The first event id of the newest ``share`` (by arrival) of the events after ``after``
        that the gate can score (a repeat of a product in the history, or a first event, cannot)."""
        scorable = [int(self.ids[user][p]) for user in self.ids for p in self._scorable(user, after)]
        if not scorable:
            return self.last_event + 1
        new = np.sort(np.array(scorable))
        return int(new[min(len(new) - 1, int(np.floor(len(new) * (1 - share))))])


def new_products(store_items: list[Item], item_ids: list[str]) -> list[Item]:
    """The store's products the model was not trained with, in the store's order."""
    known = set(item_ids)
    return [item for item in store_items if item.item_id not in known]


def catalog_with(catalog: pd.DataFrame, added: list[Item]) -> pd.DataFrame:
    """The model's catalog rows, then the added products' (the fields the server shows and filters by)."""
    if not added:
        return catalog
    rows = pd.DataFrame(
        [
            {
                "item_id": item.item_id,
                "title": item.title,
                "brand": item.brand or None,
                "categories": item.category or None,
                "price": item.price,
            }
            for item in added
        ]
    )
    return pd.concat([catalog, rows[[c for c in rows.columns if c in catalog.columns]]], ignore_index=True)


def text_vectors_of(model: SequentialRecommender, added: list[Item]) -> np.ndarray | None:
    """The added products' text vectors by the model's own item encoder (None for an ID-only model)."""
    if model.text_vectors is None:
        return None
    if int(getattr(model.config, "text_components", 0)) != 0:
        raise ValueError(
            "the model whitens its text vectors (text_components); products added since it was "
            "trained need a full `semrec train`"
        )
    if not added:
        return np.zeros((0, model.text_vectors.shape[1]), dtype=np.float32)
    reference = getattr(model, "encoder_reference", None)
    name = reference() if callable(reference) else model.config.encoder
    encoder = load_encoder(name, max_length=int(model.config.text_max_length), device="cpu")
    texts = [item.text or item.title or item.item_id for item in added]
    return np.asarray(encoder.encode(texts), dtype=np.float32)


def with_catalog(
    model: SequentialRecommender,
    counts: np.ndarray,
    text_vectors: np.ndarray | None,
    new_words: Sequence[str] = (),
) -> SequentialRecommender:
    """A copy of ``model`` over a longer catalog (its items first, in their order) with these
    training counts: every weight copied, the new rows of item tables left at their initialisation
    (an item without training events never reads its own ID part), the blend kept. The title-word
    term keeps its vocabulary and its rows, and reads the added products' words from ``new_words``
    (one per added item, in order: :func:`~semrec.data.text.listed_words`, as the server reads them)."""
    copy = type(model)(model.config)
    copy.build(counts, text_vectors)
    state = model.net.state_dict()
    target = copy.net.state_dict()
    for key, value in state.items():
        if target[key].shape == value.shape:
            target[key] = value.clone()
        elif target[key].shape[1:] == value.shape[1:] and target[key].shape[0] > value.shape[0]:
            target[key][: value.shape[0]] = value  # a per-item table: the old items keep their rows
        else:
            raise ValueError(f"cannot carry weight {key} {tuple(value.shape)} to {tuple(target[key].shape)}")
    copy.net.load_state_dict(target)
    copy.net.eval()
    copy.prior_weight, copy.text_weight, copy.cold_offset = (
        model.prior_weight,
        model.text_weight,
        model.cold_offset,
    )
    copy.cold_prior_weight, copy.cold_text_weight = model.cold_prior_weight, model.cold_text_weight
    copy.cold_word_weight = model.cold_word_weight
    copy.cold_weights_validation = model.cold_weights_validation
    copy.affinity_decay = model.affinity_decay
    copy.word_weight, copy.word_validation = model.word_weight, model.word_validation
    if model.words is not None and model.word_vectors is not None:
        added = len(counts) - model.word_vectors.shape[0]
        if len(new_words) != added:
            raise ValueError(
                f"the title-word term needs the words of the {added} added items, got {len(new_words)}"
            )
        rows = [model.word_vectors, model.words.transform(new_words)] if added else [model.word_vectors]
        copy.words, copy.word_vectors = model.words, sp.vstack(rows, format="csr", dtype=np.float32)
    copy.text_metric = model.text_metric
    copy.ranker = model.ranker
    for name in ("adapted_encoder", "encoder_path", "encoder_log"):
        if hasattr(model, name):
            setattr(copy, name, getattr(model, name))
    return copy


def fit_prior(model: SequentialRecommender, sequences: list[np.ndarray], catalog: pd.DataFrame) -> None:
    """The co-occurrence term refitted on everything the model has learned from (when it blends one)."""
    if model.prior is not None or model.prior_weight > 0:
        model.prior = ItemKNNRecommender().fit(TrainingData(sequences, catalog))


@torch.no_grad()
def start_ids_where_borrowed(before: SequentialRecommender, after: SequentialRecommender) -> np.ndarray:
    """Items without training events in ``before`` that have some in ``after`` start their own ID
    part at the part they borrowed, so their vectors do not jump when they get one. Returns them."""
    gained = np.flatnonzero((before.counts == 0) & (after.counts > 0))
    for old, new in zip(before.members(), after.members(), strict=True):
        table, target = old.items, new.items
        if not len(gained) or table.ids is None or target.ids is None or not table.borrows:
            continue
        rows = torch.from_numpy(gained + 1)
        borrowed = table.borrowed_ids(table.neighbour_rows[rows], table.neighbour_weights[rows])
        target.ids.weight[rows] = borrowed
    return gained


def replay_sample(sequences: list[np.ndarray], n: int, max_len: int, seed: int) -> list[np.ndarray]:
    """``n`` examples drawn at random (without replacement where there are enough) from every
    target of ``sequences``."""
    pool = prefix_windows(sequences, max_len)
    if n <= 0 or not pool:
        return []
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(pool), size=n, replace=n > len(pool))
    return [pool[i] for i in picks]


def warm_train(
    model: SequentialRecommender,
    new: list[np.ndarray],
    replay: list[np.ndarray],
    settings: RetrainSettings,
) -> TrainingLog:
    """Trains the model's networks on the new examples and the replay sample, from their weights."""
    config = model.config
    seen = np.flatnonzero(model.counts > 0)
    logs = []
    for index, member in enumerate(model.members()):
        logs.append(
            train_loop(
                member,
                [],
                epochs=settings.epochs,
                batch_size=int(config.batch_size),
                lr=float(config.lr) * settings.lr_scale,
                weight_decay=float(config.weight_decay),
                max_len=int(config.max_len),
                seed=settings.seed + index,
                device=model.device,
                time_budget_s=settings.time_budget_minutes * 60 / len(model.members()),
                windows=new + replay,
                softmax_items=seen,
                text_loss=float(getattr(config, "text_loss", 0.0)),
            )
        )
    model.net.eval()
    model.training_logs = logs
    return logs[0]


def timed(started: float) -> float:
    return round(time.perf_counter() - started, 2)


def artifacts_lineage(config: dict[str, Any], since_event: int | None) -> tuple[int, int]:
    """(events of the store already in the dataset, events through which the model has learned)."""
    record = config.get("continual") or {}
    base = int(record.get("dataset_events_through", since_event or 0))
    if since_event is not None and record and since_event != base:
        raise ValueError(
            f"--since-event {since_event} contradicts the artifacts: they were retrained with the "
            f"store's first {base} events in their dataset"
        )
    return base, int(record.get("events_through", base))


def store_path_note(path: Path) -> str:
    return str(Path(path).resolve())
