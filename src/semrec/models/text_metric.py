"""A learned metric on the text space for the text-affinity term.

The plain term scores an item by the cosine of its unit text vector to the shopper's recency-weighted
text profile, ``p . e``. The learned metric scores it by ``p M e`` with ``M = I + A``: ``A`` is
fitted on the training sequences by a softmax over the items seen in training (the next item against
all of them), with an L2 penalty that keeps ``M`` near the identity. It reads text only, never an
item's identity, so it ranks a product nobody has bought yet exactly as it ranks one with the same
text, and what it learns (which words of a history predict which words of the next item) carries to
new products. Items never seen in training are left out of the softmax: they are neither pushed up
nor down by it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from semrec.models.base import recency_profiles

log = logging.getLogger("semrec.models")


@dataclass(frozen=True)
class MetricSettings:
    epochs: int = 2  # passes over every (history, next item) pair of the training sequences
    penalty: float = 1e-2  # L2 weight on M - I
    lr: float = 1e-3
    batch_size: int = 512
    history: int = 20  # most recent items of each history the profile reads
    scale: float = 20.0  # logits = scale * p M e (cosines are too flat for a softmax by themselves)
    seed: int = 0


def training_pairs(sequences: Sequence[np.ndarray], history: int) -> tuple[list[np.ndarray], np.ndarray]:
    """Every (recent history, next item) pair of the sequences, the history at most ``history`` long."""
    histories: list[np.ndarray] = []
    targets: list[int] = []
    for sequence in sequences:
        for t in range(1, len(sequence)):
            histories.append(sequence[max(0, t - history) : t])
            targets.append(int(sequence[t]))
    return histories, np.asarray(targets, dtype=np.int64)


def fit_text_metric(
    sequences: Sequence[np.ndarray],
    unit_text: np.ndarray,
    decay: float,
    settings: MetricSettings | None = None,
) -> np.ndarray:
    """(dim, dim) ``M`` for ``text affinity = profile @ M @ unit_text.T`` (see the module's text);
    the identity when the sequences hold no pair to learn from."""
    settings = settings or MetricSettings()
    dim = unit_text.shape[1]
    histories, targets = training_pairs(sequences, settings.history)
    if len(targets) == 0 or settings.epochs <= 0:
        return np.eye(dim, dtype=np.float32)
    started = time.perf_counter()
    generator = torch.Generator().manual_seed(settings.seed)
    seen = np.unique(np.concatenate([np.asarray(s, dtype=np.int64) for s in sequences]))
    position = np.full(len(unit_text), -1, dtype=np.int64)
    position[seen] = np.arange(len(seen))
    profiles = torch.from_numpy(recency_profiles(histories, unit_text, decay))
    labels = torch.from_numpy(position[targets])
    items = torch.from_numpy(np.ascontiguousarray(unit_text[seen], dtype=np.float32))
    shift = torch.zeros(dim, dim, requires_grad=True)
    optimiser = torch.optim.Adam([shift], lr=settings.lr)
    eye = torch.eye(dim)
    for _ in range(settings.epochs):
        order = torch.randperm(len(labels), generator=generator)
        loss_sum = 0.0
        for start in range(0, len(order), settings.batch_size):
            batch = order[start : start + settings.batch_size]
            logits = settings.scale * (profiles[batch] @ (eye + shift) @ items.T)
            loss = torch.nn.functional.cross_entropy(logits, labels[batch])
            penalised = loss + settings.penalty * (shift**2).sum()
            optimiser.zero_grad()
            penalised.backward()  # type: ignore[no-untyped-call]
            optimiser.step()
            loss_sum += float(loss.detach()) * len(batch)
    log.info(
        "text metric fitted on %d pairs, %d epochs (last epoch's softmax loss %.4f, %.1f s)",
        len(labels),
        settings.epochs,
        loss_sum / len(labels),
        time.perf_counter() - started,
    )
    return (eye + shift).detach().numpy().astype(np.float32)
