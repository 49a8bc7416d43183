"""Sequential recommenders trained with the same loop: SASRec (item IDs) and lmrec (item text)."""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import numpy as np
import torch

from semrec.data.text import catalog_texts
from semrec.encoders.factory import is_exported, load_encoder
from semrec.encoders.transformer import TextEncoder, encode_cached, pick_device
from semrec.models.base import Recommender, TrainingData
from semrec.models.blend import (
    BlendWeights,
    Donors,
    blend,
    borrowed_prior,
    prior_term,
    text_affinity,
    text_neighbours,
)
from semrec.models.itemknn import ItemKNNRecommender
from semrec.models.sequence_net import ItemTable, NetworkEnsemble, SequenceNet
from semrec.models.settings import setting
from semrec.training.text_finetune import MODES, finetune_encoder
from semrec.training.trainer import TrainingLog, left_pad, train_loop

log = logging.getLogger("semrec.models")


COOCCURRENCE_HELP = (
    "Weight of the co-occurrence prior (the log of an item-kNN score fitted on the same training "
    "sequences) added to the network's log-softmax: 0 = off, -1 (any negative value) = chosen on the "
    "validation split after training from 0, 0.1, ..., 5 (0.3 without a validation split); any other "
    "value is used as given."
)
TIME_BUDGET_HELP = (
    "Training time in minutes, split evenly between the networks; a network stops after the epoch "
    "that reaches its share."
)


@dataclass(frozen=True)
class SequentialConfig:
    dim: int = setting(64, "Width of the item vectors and of the sequence transformer's hidden states.")
    layers: int = setting(2, "Transformer blocks of the sequence network.")
    heads: int = setting(2, "Attention heads per transformer block (must divide dim).")
    dropout: float = setting(
        0.5,
        "Dropout rate (0 to 1) of the sequence network: on its input, inside every block and, for "
        "models that read text, on the text vectors before the adapter.",
    )
    norm: str = setting(
        "post",
        "Where the transformer blocks normalise: 'post' (LayerNorm after each sublayer, trained from a "
        "small initialisation) or 'pre' (LayerNorm before each sublayer, and once at the end).",
    )
    ff_mult: int = setting(4, "Feed-forward width of each block, as a multiple of dim.")
    max_len: int = setting(
        50, "Most recent items of a history the network reads (older ones are left out), in training too."
    )
    epochs: int = setting(
        200, "Most passes over the training examples; early stopping or the time budget usually ends sooner."
    )
    batch_size: int = setting(256, "Training examples per optimiser step.")
    lr: float = setting(1e-3, "Learning rate of the AdamW optimiser.")
    weight_decay: float = setting(0.0, "Weight decay of the AdamW optimiser (0: none).")
    patience: int = setting(
        4,
        "Validation runs in a row without a better NDCG@10 before training stops; the weights of the "
        "best run are kept.",
    )
    eval_every: int = setting(
        1,
        "Epochs between validation runs (validation also runs after the last epoch and at the time budget).",
    )
    time_budget_minutes: float = setting(25.0, TIME_BUDGET_HELP)
    seed: int = setting(
        42, "Random seed of initialisation, shuffling and dropout; network k of several uses seed + k."
    )
    device: str = setting(
        "auto",
        "Device that trains and runs the network (and, for models that read text, embeds it): auto (a "
        "CUDA GPU when there is one, else the CPU), cpu, cuda or cuda:N.",
    )
    networks: int = setting(
        1,
        "Networks trained apart (1 or more), from seeds seed, seed + 1, ..., and scored by the mean of "
        "their next-item logits; they share the time budget.",
    )
    # on amazon-beauty true gives +7% NDCG@10 for SASRec (benchmarks/accuracy.md)
    prefixes: bool = setting(
        True,
        "true: one training example per target (the target and the items before it, with its own "
        "dropout noise); false: one example per sequence, training all its targets in one pass. true "
        "costs about 2.5x the work per epoch and needs fewer epochs.",
    )
    cooccurrence_weight: float = setting(0.0, COOCCURRENCE_HELP)


# blend weight grids, chosen on validation; roughly geometric, and wide enough that a shop whose
# validation prefers more co-occurrence or text than amazon-beauty's still finds its optimum inside
PRIOR_WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0, 1.5, 2.0, 3.0, 5.0)
TEXT_WEIGHTS = (0.0, 1.0, 2.0, 3.0, 5.0, 7.0, 10.0, 15.0, 20.0, 30.0)


class SequentialRecommender(Recommender):
    """Base for models trained by :func:`~semrec.training.trainer.train_loop`."""

    config: Any
    net: SequenceNet | NetworkEnsemble
    uses_ids = True
    prior: ItemKNNRecommender | None = None
    prior_weight = 0.0
    affinity: np.ndarray | None = None  # unit text vectors for the text-affinity term
    affinity_decay = 0.3
    text_weight = 0.0
    cold_offset = 0.0
    donors: Donors | None = None  # text neighbours each item borrows an ID part and co-occurrence from
    donor_text: np.ndarray | None = None  # unit text vectors of the seen items (new items' donors)
    donor_items: np.ndarray | None = None

    def text_vectors_for(self, data: TrainingData) -> np.ndarray | None:
        """(n_items, text_dim) item text vectors, or None for a model of item IDs only."""
        return None

    def _build(self, counts: np.ndarray, text_vectors: np.ndarray | None) -> None:
        config = self.config
        torch.manual_seed(config.seed)
        self.device = pick_device(config.device)
        self.counts = counts
        self.fallback = (counts / max(counts.max(), 1.0)).astype(np.float32)
        self.text_vectors = text_vectors
        unit = None
        if text_vectors is not None:
            norms = np.linalg.norm(text_vectors, axis=1, keepdims=True)
            unit = (text_vectors / np.maximum(norms, 1e-12)).astype(np.float32)
        # the text-affinity term reads the encoder's own vectors (not a whitened catalog transform)
        self.affinity = unit if int(getattr(config, "text_components", 0)) == 0 else None
        self.affinity_decay = float(getattr(config, "text_decay", 0.3))
        self.donors = self.donor_text = self.donor_items = None
        if unit is not None and int(getattr(config, "cold_neighbours", 0)) > 0:
            seen = counts > 0
            self.donor_text = unit[seen]
            self.donor_items = np.flatnonzero(seen)
            self.donors = self.donors_for(unit, np.arange(len(counts)))
        if int(config.networks) < 1:
            raise ValueError(f"networks must be 1 or more, got {config.networks}")
        members = []
        for member in range(int(config.networks)):
            torch.manual_seed(config.seed + member)
            items = ItemTable(
                len(counts),
                config.dim,
                torch.from_numpy(text_vectors) if text_vectors is not None else None,
                use_ids=self.uses_ids,
                seen=torch.from_numpy(counts > 0),
                experts=getattr(config, "experts", 1),
                dropout=config.dropout,
                id_dropout=getattr(config, "id_dropout", 0.0),
                donors=None
                if self.donors is None
                else (torch.from_numpy(self.donors.items), torch.from_numpy(self.donors.weights)),
            )
            members.append(
                SequenceNet(
                    items,
                    config.dim,
                    config.layers,
                    config.heads,
                    config.dropout,
                    config.max_len,
                    norm=config.norm,
                    ff_mult=config.ff_mult,
                )
            )
        self.net = members[0] if len(members) == 1 else NetworkEnsemble(members)
        self.net.to(self.device)

    def donors_for(self, unit_text: np.ndarray, own_items: np.ndarray | None = None) -> Donors:
        """The donors of items with these unit text vectors (``own_items``: their catalog indices,
        so that a catalog item never borrows from itself)."""
        assert self.donor_text is not None and self.donor_items is not None
        return text_neighbours(
            unit_text,
            self.donor_text,
            self.donor_items,
            int(getattr(self.config, "cold_neighbours", 0)),
            float(getattr(self.config, "cold_temperature", 0.05)),
            own_items,
        )

    @property
    def weights(self) -> BlendWeights:
        return BlendWeights(
            self.prior_weight if self.prior is not None else 0.0,
            self.text_weight if self.affinity is not None else 0.0,
            self.cold_offset,
        )

    def members(self) -> list[SequenceNet]:
        """The trained networks (one, or an ensemble's members)."""
        return list(self.net.nets) if isinstance(self.net, NetworkEnsemble) else [self.net]

    def fit(self, data: TrainingData) -> Self:
        self._build(data.item_counts(), self.text_vectors_for(data))
        config, validator = self.config, data.validator
        members, whole = self.members(), self.net
        self.training_logs: list[TrainingLog] = []
        for index, member in enumerate(members):
            self.net = member  # early stopping judges each network on its own

            def report(entry: dict[str, float], number: int = index + 1) -> None:
                log.info("%s network %d %s", self.name, number, entry)

            checkpoint = data.checkpoint
            if checkpoint is not None and len(members) > 1:
                checkpoint = checkpoint.with_name(f"{checkpoint.stem}-{index}{checkpoint.suffix}")
            self.training_logs.append(
                train_loop(
                    member,
                    data.sequences,
                    epochs=config.epochs,
                    batch_size=config.batch_size,
                    lr=config.lr,
                    weight_decay=config.weight_decay,
                    max_len=config.max_len,
                    seed=config.seed + index,
                    device=self.device,
                    validate=(lambda: validator(self)) if validator is not None else None,
                    eval_every=config.eval_every,
                    patience=config.patience,
                    time_budget_s=config.time_budget_minutes * 60 / len(members),
                    checkpoint=checkpoint,
                    on_epoch=report,
                    prefixes=config.prefixes,
                )
            )
        self.net = whole
        if len(members) > 1 and validator is not None:
            self.ensemble_validation = validator(self)
            log.info(
                "%s: %d networks together, valid NDCG@10 %.4f",
                self.name,
                len(members),
                self.ensemble_validation,
            )
        self._fit_blend(data)
        return self

    def _fit_blend(self, data: TrainingData) -> None:
        """Blends the network with item-to-item co-occurrence from the same training sequences (and,
        for models that read text, the shopper's text affinity), in log space; each weight is fixed
        by the settings or picked on the validation split (never on test)."""
        prior_setting = float(self.config.cooccurrence_weight)
        text_setting = float(getattr(self.config, "text_weight", 0.0))
        self.prior, self.prior_weight, self.text_weight = None, 0.0, 0.0
        self.cold_offset = float(getattr(self.config, "cold_offset", 0.0))
        if prior_setting != 0.0:
            self.prior = ItemKNNRecommender().fit(TrainingData(data.sequences, data.items))
        if self.affinity is None:
            text_setting = 0.0
        prior_grid = PRIOR_WEIGHTS if prior_setting < 0 else (prior_setting,)
        text_grid = TEXT_WEIGHTS if text_setting < 0 else (text_setting,)
        if data.validator is None and data.blend_validator is None:  # nothing to choose on
            prior_grid = (PRIOR_WEIGHTS[3],) if prior_setting < 0 else prior_grid
            text_grid = (TEXT_WEIGHTS[3],) if text_setting < 0 else text_grid
        grid = [(p, t) for p in prior_grid for t in text_grid]
        if len(grid) == 1:
            self.prior_weight, self.text_weight = grid[0]
            self._calibrate_cold(data)
            return
        if data.blend_validator is not None:  # every blend from one pass over the validation shoppers
            blends = [{"prior": p, "text": t} for p, t in grid]
            scores = dict(zip(grid, data.blend_validator(self.score_parts, blends), strict=True))
        else:
            assert data.validator is not None
            scores = {}
            for p, t in grid:
                self.prior_weight, self.text_weight = p, t
                scores[(p, t)] = data.validator(self)
        # the best validation score; among equals, the smallest weights
        self.prior_weight, self.text_weight = max(scores, key=lambda w: (scores[w], -w[0], -w[1]))
        log.info(
            "co-occurrence weight %.2f, text weight %.2f chosen on validation (NDCG@10 %.4f)",
            self.prior_weight,
            self.text_weight,
            scores[(self.prior_weight, self.text_weight)],
        )
        self.blend_validation = {f"{p:g},{t:g}": round(v, 6) for (p, t), v in scores.items()}
        self._calibrate_cold(data)
        for name, value, options in (
            ("co-occurrence", self.prior_weight, prior_grid),
            ("text", self.text_weight, text_grid),
        ):
            if len(options) > 1 and value == max(options) > 0:
                log.warning(
                    "%s weight %.2f is the largest the grid offers: validation may prefer more; "
                    "set it with --param",
                    name,
                    value,
                )

    def _calibrate_cold(self, data: TrainingData) -> None:
        """Fits the offset of items with no training events on validation (maximum likelihood, see
        :func:`~semrec.evaluation.evaluator.fit_cold_offset`), when the setting asks for it and
        validation holds enough new products; otherwise the ``cold_offset`` setting stays."""
        if not bool(getattr(self.config, "calibrate_cold", False)) or data.cold_calibrator is None:
            return
        cold = self.counts == 0
        if not cold.any():
            return
        blend = {"prior": self.weights.prior, "text": self.weights.text}
        fitted = data.cold_calibrator(self.score_parts, blend, cold)
        if fitted is None:
            log.info("cold offset %.2f (validation holds too few new products to fit it)", self.cold_offset)
            return
        self.cold_offset, targets = fitted
        self.cold_calibration = {"offset": self.cold_offset, "validation_targets": targets}
        log.info("cold offset %.3f fitted on %d validation targets never seen in training", *fitted)

    @torch.inference_mode()
    def network_scores(self, histories: Sequence[np.ndarray]) -> np.ndarray:
        """(batch, n_items) next-item logits; popularity for an empty history."""
        self.net.eval()
        nonempty = [i for i, h in enumerate(histories) if len(h)]
        out = np.tile(self.fallback, (len(histories), 1))
        if nonempty:
            length = min(self.config.max_len, max(len(histories[i]) for i in nonempty))
            batch = left_pad([histories[i] for i in nonempty], length).to(self.device)
            out[nonempty] = self.net(batch).float().cpu().numpy()
        return out

    def score_parts(self, histories: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
        """The terms :meth:`score` adds up, unweighted (:mod:`semrec.models.blend`): 'network' (the
        next-item logits), 'prior' (log co-occurrence; an item never seen in training borrows its
        donors') and 'text' (cosine of the shopper's recent item text to each item's)."""
        parts = {"network": self.network_scores(histories)}
        if self.prior is not None:
            raw = self.prior.score(histories)
            cold = np.flatnonzero(self.counts == 0)
            if self.donors is not None and len(cold):
                donors = self.donors.items[cold]
                raw[:, cold] = borrowed_prior(raw[:, donors], self.donors.weights[cold])
            parts["prior"] = prior_term(raw)
        if self.affinity is not None:
            parts["text"] = text_affinity(histories, self.affinity, self.affinity_decay)
        return parts

    def score(self, histories: Sequence[np.ndarray]) -> np.ndarray:
        weights = self.weights
        if not weights.active:
            return self.network_scores(histories)
        parts = self.score_parts(histories)
        out = blend(parts["network"], weights, parts.get("prior"), parts.get("text"), self.counts == 0)
        empty = np.array([len(h) == 0 for h in histories], dtype=bool)
        out[empty] = self.fallback  # no history: the popularity order
        return out

    @torch.inference_mode()
    def item_vectors(self) -> np.ndarray:
        """(n_items, dim) the vectors next-item scores are dot products with."""
        self.net.eval()
        return self.net.items()[1:].float().cpu().numpy()

    def training_summary(self) -> dict[str, Any]:
        records = getattr(self, "training_logs", [])
        summary: dict[str, Any] = dataclasses.asdict(records[0]) if len(records) == 1 else {}
        if len(records) > 1:
            summary["networks"] = [dataclasses.asdict(record) for record in records]
            summary["seconds"] = sum(record.seconds for record in records)
            summary["ensemble_valid_ndcg@10"] = getattr(self, "ensemble_validation", None)
        if self.prior is not None:
            summary["cooccurrence_weight"] = self.prior_weight
        if self.affinity is not None:
            summary["text_weight"] = self.text_weight
        if hasattr(self, "blend_validation"):  # "co-occurrence weight,text weight" -> NDCG@10
            summary["blend_validation_ndcg@10"] = self.blend_validation
        summary["cold_offset"] = self.cold_offset
        if hasattr(self, "cold_calibration"):
            summary["cold_calibration"] = self.cold_calibration
        return summary

    def save_state(self, directory: Path) -> None:
        torch.save(self.net.state_dict(), directory / "weights.pt")
        np.save(directory / "train_counts.npy", self.counts)
        np.save(directory / "item_vectors.npy", self.item_vectors())
        if self.text_vectors is not None:
            np.save(directory / "text_vectors.npy", self.text_vectors)
        if self.prior is not None:
            (directory / "prior").mkdir()
            self.prior.save_state(directory / "prior")
        (directory / "blend.json").write_text(
            json.dumps(
                {
                    "cooccurrence_weight": self.prior_weight,
                    "text_weight": self.text_weight,
                    "cold_offset": self.cold_offset,
                }
            )
        )

    def load_state(self, directory: Path) -> None:
        text = directory / "text_vectors.npy"
        self._build(np.load(directory / "train_counts.npy"), np.load(text) if text.exists() else None)
        self.net.load_state_dict(torch.load(directory / "weights.pt", map_location=self.device))
        self.net.eval()
        self.prior, self.prior_weight = None, 0.0
        if (directory / "prior").is_dir():
            self.prior = ItemKNNRecommender()
            self.prior.load_state(directory / "prior")
        blend = directory / "blend.json"
        if blend.exists():
            weights = json.loads(blend.read_text())
            self.prior_weight, self.text_weight = weights["cooccurrence_weight"], weights["text_weight"]
            self.cold_offset = float(weights.get("cold_offset", 0.0))
        elif self.prior is not None:  # artifacts written before blend.json
            self.prior_weight = json.loads((directory / "prior" / "weight.json").read_text())["weight"]
        if self.prior is None:
            self.prior_weight = 0.0


class SASRecRecommender(SequentialRecommender):
    """SASRec: learnable item-ID embeddings, causal self-attention, full softmax cross-entropy."""

    name = "sasrec"

    @dataclass(frozen=True)
    class Config(SequentialConfig):
        pass


class LMRecRecommender(SequentialRecommender):
    """lmrec: item vectors from a pretrained text encoder (frozen, through a trainable adapter),
    optionally plus item-ID embeddings (``hybrid``) for items seen in training."""

    name = "lmrec"

    @dataclass(frozen=True)
    class Config(SequentialConfig):
        encoder: str = setting(
            "minilm",
            "Text encoder of the item text: 'minilm' (the bundled all-MiniLM-L6-v2) or the path of a "
            "local Hugging Face model folder; mode frozen also takes a folder written by `semrec export`.",
        )
        mode: str = setting(
            "frozen",
            "How the text encoder is used: 'frozen' (its cached item vectors, through a trainable "
            "adapter), or first fine-tuned on (item, next item) pairs of the training sequences: "
            "'lora' (low-rank adapters, merged afterwards) or 'full' (all its weights).",
        )
        hybrid: bool = setting(
            True,
            "Add learnable item-ID embeddings to the text part of items seen in training (false: text only).",
        )
        experts: int = setting(4, "Projections of the text adapter (1 or more), mixed per item by a gate.")
        id_dropout: float = setting(
            0.1,
            "hybrid: share of items (0 to 1) whose ID part is hidden in each training step, so that "
            "the text (and borrowed ID parts) learn to rank items without one, as new products are.",
        )
        cold_neighbours: int = setting(
            10,
            "An item without an ID of its own (new, or hidden by id_dropout) borrows from this many seen "
            "items whose text is closest: their weighted mean ID part (hybrid) and co-occurrence scores, "
            "weighted by softmax(cosine / cold_temperature) (0: no borrowing).",
        )
        cold_temperature: float = setting(
            0.05,
            "Temperature of the softmax over the donors' text cosines (cold_neighbours): smaller gives "
            "the closest donors more weight (0 or less: no borrowing).",
        )
        cold_offset: float = setting(
            0.0,
            "Added to the score of items with no training events (negative: new products rank lower); "
            "calibrate_cold may replace it by a value fitted on validation.",
        )
        calibrate_cold: bool = setting(
            True,
            "Fit cold_offset on the validation split (maximum likelihood) when it holds 50 or more "
            "targets with no training events, and with 500 or more also those items' weight for each "
            "part of the score (false: cold_offset as given, the other items' weights).",
        )
        cooccurrence_weight: float = setting(-1.0, COOCCURRENCE_HELP)
        text_weight: float = setting(
            -1.0,
            "Weight of the text-affinity term (cosine of the recency-weighted mean text vector of the "
            "shopper's items to each item's) added to the score: 0 = off, -1 (any negative value) = "
            "chosen on validation together with cooccurrence_weight from 0, 1, ..., 30 (3 without a "
            "validation split); any other value is used as given. Off when text_components is not 0.",
        )
        text_decay: float = setting(
            0.3,
            "Text affinity: recency weight per step back in the shopper's history (0 to 1): the most "
            "recent item weighs 1, the one before it text_decay, then text_decay^2, ...",
        )
        time_budget_minutes: float = setting(40.0, TIME_BUDGET_HELP)
        text_components: int = setting(
            0,
            "PCA-whitened dimensions of the catalog's text vectors the adapter reads (0, or at least the "
            "encoder's width: the vectors as they are); any value but 0 turns the text-affinity term off.",
        )
        text_max_length: int = setting(
            64,
            "Tokens of each item text the encoder reads, in training and when the server embeds new "
            "items and queries; longer texts are cut.",
        )
        encoder_steps: int = setting(
            2000, "lora / full: most contrastive training steps of the encoder on (item, next item) pairs."
        )
        encoder_minutes: float = setting(
            15.0, "lora / full: time budget of the encoder fine-tuning in minutes (it may end sooner)."
        )
        encoder_lr: float = setting(1e-4, "lora / full: learning rate of the encoder fine-tuning (AdamW).")

    config: Config

    def __init__(self, config: Any = None) -> None:
        super().__init__(config)
        if self.config.mode not in MODES:
            raise ValueError(f"mode {self.config.mode!r} is not allowed; choose one of {list(MODES)}")
        self.uses_ids = self.config.hybrid
        self.encoder_log: dict[str, float] = {}
        self.adapted_encoder: TextEncoder | None = None  # lora / full: the encoder after adaptation
        self.encoder_path: Path | None = None  # where the adapted encoder was loaded from

    def text_vectors_for(self, data: TrainingData) -> np.ndarray | None:
        texts = catalog_texts(data.items)
        if self.config.mode == "frozen":
            frozen = load_encoder(
                self.config.encoder, max_length=self.config.text_max_length, device=self.config.device
            )
            vectors = encode_cached(frozen, texts, progress="embedding items")
        else:
            if is_exported(self.config.encoder):
                raise ValueError("lora / full fine-tuning needs a PyTorch encoder, not an exported ONNX one")
            encoder = TextEncoder(
                self.config.encoder, max_length=self.config.text_max_length, device=self.config.device
            )
            self.encoder_log = finetune_encoder(
                encoder,
                texts,
                data.sequences,
                self.config.mode,
                steps=self.config.encoder_steps,
                time_budget_s=self.config.encoder_minutes * 60,
                lr=self.config.encoder_lr,
                seed=self.config.seed,
            )
            log.info("encoder fine-tuned: %s", self.encoder_log)
            self.adapted_encoder = encoder
            vectors = encoder.encode(texts, progress="embedding items with the adapted encoder")
        return whiten(vectors, self.config.text_components)

    def encoder_reference(self) -> str:
        """The encoder that embeds new item text: the adapted copy in the artifacts, or the configured one."""
        return str(self.encoder_path) if self.encoder_path is not None else self.config.encoder

    def save_state(self, directory: Path) -> None:
        super().save_state(directory)
        if self.adapted_encoder is not None:  # new products must be embedded by the same weights
            self.adapted_encoder.model.save_pretrained(directory / "encoder")
            self.adapted_encoder.tokenizer.save_pretrained(directory / "encoder")

    def load_state(self, directory: Path) -> None:
        super().load_state(directory)
        adapted = directory / "encoder"
        self.encoder_path = adapted if (adapted / "config.json").exists() else None

    def training_summary(self) -> dict[str, Any]:
        summary = super().training_summary()
        if self.encoder_log:
            summary["encoder"] = self.encoder_log
        return summary


def whiten(vectors: np.ndarray, components: int) -> np.ndarray:
    """PCA whitening of the catalog's text vectors, keeping ``components`` dimensions.

    Sentence embeddings crowd into a narrow cone; whitening spreads them out (and fewer dimensions make
    the adapter cheaper to train). Uses catalog text only, never behaviour.
    """
    if components <= 0 or components >= vectors.shape[1]:
        return vectors
    centered = vectors.astype(np.float64) - vectors.mean(0)
    _, singular, basis = np.linalg.svd(centered, full_matrices=False)
    scale = singular[:components] / np.sqrt(max(len(vectors) - 1, 1))
    whitened = centered @ basis[:components].T / np.maximum(scale, 1e-8)  # unit variance per dimension
    return (whitened / np.sqrt(components)).astype(np.float32)  # ~unit norm, like the raw vectors
