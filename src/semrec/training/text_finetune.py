"""Adapting the text encoder to the shop: contrastive fine-tuning on consecutive items of training sequences.

An item and the item bought next form a positive pair; the other items of the batch are negatives
(InfoNCE, both directions). ``lora`` trains low-rank adapters on the attention projections (peft) and
merges them back; ``full`` trains every weight. Only training sequences are read.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from peft import LoraConfig, get_peft_model

from semrec.encoders.transformer import MODES, TextEncoder

log = logging.getLogger("semrec.training")


def next_item_pairs(sequences: Sequence[np.ndarray]) -> np.ndarray:
    """(n_pairs, 2) distinct (item, next item) pairs of the training sequences."""
    pairs = [np.stack([s[:-1], s[1:]], axis=1) for s in sequences if len(s) >= 2]
    if not pairs:
        return np.zeros((0, 2), dtype=np.int64)
    stacked = np.concatenate(pairs)
    stacked = stacked[stacked[:, 0] != stacked[:, 1]]
    return np.unique(stacked, axis=0)


def finetune_encoder(
    encoder: TextEncoder,
    texts: Sequence[str],
    sequences: Sequence[np.ndarray],
    mode: str,
    *,
    steps: int = 1000,
    time_budget_s: float = 600.0,
    batch_size: int = 64,
    lr: float = 5e-5,
    lora_rank: int = 8,
    temperature: float = 0.05,
    seed: int = 42,
) -> dict[str, float]:
    """Fine-tunes ``encoder.model`` in place; returns a small log (steps, first and last loss, seconds)."""
    if mode not in MODES[1:]:
        raise ValueError(f"encoder fine-tuning mode {mode!r} is not allowed; choose 'lora' or 'full'")
    pairs = next_item_pairs(sequences)
    if len(pairs) == 0:
        raise ValueError("no training sequence has two items; nothing to fine-tune the encoder on")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = encoder.model
    if mode == "lora":
        config = LoraConfig(
            r=lora_rank, lora_alpha=2 * lora_rank, lora_dropout=0.1, target_modules=["query", "value"]
        )
        model = get_peft_model(model, config)
    model.train()
    optimizer = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=lr, weight_decay=0.01
    )
    started = time.perf_counter()
    losses: list[float] = []
    for step in range(steps):
        chunk = pairs[rng.choice(len(pairs), size=min(batch_size, len(pairs)), replace=False)]
        batch = encoder.tokenizer(
            [texts[i] for i in chunk.ravel()],
            padding=True,
            truncation=True,
            max_length=encoder.max_length,
            return_tensors="pt",
        ).to(encoder.device)
        vectors = encoder.pool(model(**batch).last_hidden_state, batch["attention_mask"])
        anchors, positives = vectors[0::2], vectors[1::2]  # (batch, dim) each
        logits = anchors @ positives.T / temperature
        # the same item may sit in two pairs of a batch: only the pair's own partner counts as positive
        labels = torch.arange(len(chunk), device=logits.device)
        loss = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2
        optimizer.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        optimizer.step()
        losses.append(float(loss.detach()))
        if step % 50 == 0:
            log.info("encoder %s step %d loss %.4f", mode, step, losses[-1])
        if time.perf_counter() - started >= time_budget_s:
            break
    if mode == "lora":
        model = model.merge_and_unload()
    encoder.model = model.eval()
    first = float(np.mean(losses[: max(1, len(losses) // 10)]))
    last = float(np.mean(losses[-max(1, len(losses) // 10) :]))
    return {
        "steps": len(losses),
        "first_loss": first,
        "last_loss": last,
        "seconds": time.perf_counter() - started,
    }
