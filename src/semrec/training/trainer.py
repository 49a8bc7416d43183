"""The training loop: full softmax cross-entropy over the catalog, AdamW, early stopping, checkpoints.

The loop sees training sequences only. Early stopping asks a ``validate`` callback for a score
(validation NDCG@10, computed outside the loop), so validation targets never reach the trainer.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from semrec.models.sequence_net import SequenceNet, left_pad
from semrec.training import collective

log = logging.getLogger("semrec.training")


@dataclass
class TrainingLog:
    epochs: int = 0
    best_epoch: int = 0
    best_score: float = -math.inf
    seconds: float = 0.0
    history: list[dict[str, float]] = field(default_factory=list)
    stopped_by: str = "epochs"


def windows_ending_at(sequence: np.ndarray, ends: Iterable[int], max_len: int) -> list[np.ndarray]:
    """The slices of ``sequence`` that end (exclusive) at each of ``ends``, each holding its last
    item and at most ``max_len`` items before it."""
    return [np.asarray(sequence[max(0, end - max_len - 1) : end]) for end in ends]


def training_pairs(sequences: Sequence[np.ndarray], max_len: int) -> list[np.ndarray]:
    """Windows of at most ``max_len + 1`` items covering every training sequence with two or more
    items: the last window ends with the sequence, and each earlier one ends where the next one's
    inputs begin, so every next item of a long history is a target exactly once."""
    return [w for s in sequences for w in windows_ending_at(s, range(len(s), 1, -max_len), max_len)]


def prefix_windows(sequences: Sequence[np.ndarray], max_len: int) -> list[np.ndarray]:
    """One example per training target: the target and the (at most ``max_len``) items before it.
    Each target is then trained with dropout noise of its own, as one sample, rather than sharing
    one pass (and one noise draw) with the rest of its sequence."""
    return [w for s in sequences for w in windows_ending_at(s, range(2, len(s) + 1), max_len)]


def length_batches(
    lengths: np.ndarray, batch_size: int, rng: np.random.Generator, pool: int = 32
) -> list[np.ndarray]:
    """Shuffled batches of example indices; within random pools of ``pool`` batches, similar lengths
    go together, so padding (and time) shrink while the order stays random."""
    order = rng.permutation(len(lengths))
    batches: list[np.ndarray] = []
    for start in range(0, len(order), batch_size * pool):
        chunk = order[start : start + batch_size * pool]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    return [batches[i] for i in rng.permutation(len(batches))]


def train_loop(
    net: SequenceNet,
    sequences: Sequence[np.ndarray],
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    weight_decay: float,
    max_len: int,
    seed: int,
    device: torch.device,
    validate: Callable[[], float] | None = None,
    eval_every: int = 1,
    patience: int = 5,
    time_budget_s: float | None = None,
    checkpoint: Path | None = None,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
    prefixes: bool = False,
    text_loss: float = 0.0,
    windows: Sequence[np.ndarray] | None = None,
    softmax_items: np.ndarray | None = None,
) -> TrainingLog:
    """Trains ``net`` in place and leaves it holding the weights of the best validated epoch.

    ``text_loss`` > 0 adds, with that weight, the same softmax over every item's text-only vector
    (:meth:`~semrec.models.sequence_net.ItemTable.with_text_only`) for tables that have one.

    ``windows`` (continual training) gives the examples themselves instead of ``sequences``: each
    trains its last item as the target of the items before it. ``softmax_items`` replaces the
    items of the examples as the softmax's items (a few new examples hold few items, but their
    targets must still beat every item the model knows)."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)  # the same batches in every process: each takes its share
    rank, size = collective.world()
    collective.same_start(net)
    if windows is not None:
        examples, prefixes = [np.asarray(w[-(max_len + 1) :]) for w in windows if len(w) > 1], True
    else:
        examples = (prefix_windows if prefixes else training_pairs)(sequences, max_len)
    if not examples:
        raise ValueError("no training sequence has two or more items; nothing to learn from")
    lengths = np.array([len(e) for e in examples])
    # The softmax runs over items of the training sequences only: an item absent from them (added to
    # the catalog later) would otherwise be pushed down as a negative it never had the chance to be.
    present = np.zeros(net.items.n_items, dtype=bool)
    if softmax_items is not None:
        present[np.asarray(softmax_items, dtype=np.int64)] = True
    source = examples if windows is not None else sequences
    present[np.concatenate([np.asarray(s, dtype=np.int64) for s in source])] = True
    candidates = torch.from_numpy(np.flatnonzero(present)).to(device)
    column = torch.full((net.items.n_items + 1,), -1, dtype=torch.long, device=device)
    column[candidates + 1] = torch.arange(len(candidates), device=device)
    optimizer = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=weight_decay)
    record = TrainingLog()
    best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
    start_epoch, waited = 0, 0
    if checkpoint is not None and checkpoint.exists():
        saved = torch.load(checkpoint, map_location=device, weights_only=False)
        net.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        best_state, start_epoch, waited = saved["best_state"], saved["epoch"], saved["waited"]
        record = saved["record"]
        rng = saved["rng"]
        log.info("resumed from %s at epoch %d", checkpoint, start_epoch)
        out_of_time = time_budget_s is not None and record.seconds >= time_budget_s
        if waited >= patience or start_epoch >= epochs or out_of_time:  # it had finished
            net.load_state_dict(best_state)
            net.eval()
            return record
    started = time.perf_counter() - record.seconds
    for epoch in range(start_epoch, epochs):
        net.train()
        total, count = 0.0, 0
        for batch in length_batches(lengths, batch_size, rng):
            optimizer.zero_grad(set_to_none=True)
            part = batch[rank::size]  # this process's share (all of it in one process)
            positions = 0
            if len(part):
                chunk = [examples[i] for i in part]
                length = max(len(s) for s in chunk)
                padded = left_pad(chunk, length).to(device)  # (batch, length)
                inputs, targets = padded[:, :-1], padded[:, 1:]
                table, text_only = net.items.with_text_only()
                hidden = net.encode(inputs, table)  # (batch, length - 1, dim)
                valid = (targets > 0) & (inputs > 0)
                if prefixes:  # each example trains its last target only
                    valid[:, :-1] = False
                queries, labels = hidden[valid], column[targets[valid]]
                positions = int(valid.sum())
            # the mean over the whole batch's positions, whichever process holds them
            everywhere = collective.total(float(positions)) if size > 1 else float(positions)
            if positions:
                reduction = "mean" if size == 1 else "sum"
                logits = queries @ table[candidates + 1].T  # (n_positions, n_candidates)
                loss = F.cross_entropy(logits, labels, reduction=reduction)
                if text_loss > 0 and text_only is not None:
                    # the same queries against every item as a new product would be scored: text
                    # and borrowed ID parts then learn to rank on the scale of the full vectors
                    other = F.cross_entropy(
                        queries @ text_only[candidates + 1].T, labels, reduction=reduction
                    )
                    loss = loss + text_loss * other
                if size > 1:
                    loss = loss / max(everywhere, 1.0)
                loss.backward()  # type: ignore[no-untyped-call]
                total += float(loss.detach()) * (positions if size == 1 else everywhere)
            collective.sum_gradients(net.parameters())
            if everywhere:
                optimizer.step()
            count += positions
        record.epochs = epoch + 1
        record.seconds = time.perf_counter() - started
        entry = {"epoch": epoch + 1, "loss": total / max(count, 1), "seconds": round(record.seconds, 1)}
        out_of_time = time_budget_s is not None and record.seconds >= time_budget_s
        out_of_time = bool(collective.from_first([float(out_of_time)])[0])  # all stop together
        if validate is not None and ((epoch + 1) % eval_every == 0 or out_of_time or epoch + 1 == epochs):
            net.eval()
            score = validate() if rank == 0 else 0.0  # the same weights everywhere: validated once
            score = collective.from_first([score])[0]
            entry["valid_ndcg@10"] = score
            if score > record.best_score:
                record.best_score, record.best_epoch, waited = score, epoch + 1, 0
                best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
            else:
                waited += 1
        elif validate is None:
            best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
            record.best_epoch = epoch + 1
        record.history.append(entry)
        if on_epoch is not None:
            on_epoch(entry)
        if checkpoint is not None and rank == 0:
            state: dict[str, Any] = {"model": net.state_dict(), "optimizer": optimizer.state_dict()}
            state["best_state"] = best_state
            state.update({"epoch": epoch + 1, "waited": waited, "record": record, "rng": rng})
            torch.save(state, checkpoint)
        if waited >= patience:
            record.stopped_by = "early stopping"
            break
        if out_of_time:
            record.stopped_by = "time budget"
            break
    net.load_state_dict(best_state)
    net.eval()
    return record
