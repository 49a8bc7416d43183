"""Sequential recommenders trained with the same loop: SASRec (item IDs) and lmrec (item text)."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import numpy as np
import scipy.sparse as sp
import torch

from semrec.data.text import catalog_texts
from semrec.encoders.batching import encode_cached, log_backend
from semrec.encoders.factory import load_encoder
from semrec.encoders.transformer import MODES, TextEncoder, pick_device
from semrec.encoders.whitening import whiten
from semrec.models.base import Recommender, TrainingData, top_k
from semrec.models.blend import (
    BlendWeights,
    Donors,
    blend_parts,
    borrowed_prior,
    prior_term,
    text_affinity,
    text_neighbours,
)
from semrec.models.itemknn import ItemKNNRecommender
from semrec.models.sequence_net import ItemTable, NetworkEnsemble, SequenceNet, left_pad
from semrec.models.sequential_settings import COLD_RULES, LMRecConfig, SequentialConfig
from semrec.models.sequential_state import load_state, save_state, training_summary
from semrec.models.words import WordVectors, word_affinity

if TYPE_CHECKING:
    from semrec.models.ranker import Ranker
    from semrec.training.trainer import TrainingLog

log = logging.getLogger("semrec.models")


class SequentialRecommender(Recommender):
    """Base for models trained by :func:`~semrec.training.trainer.train_loop` (through
    :func:`~semrec.training.fitting.fit_sequential`): state, scores, saving and loading."""

    config: Any
    training_logs: list[TrainingLog]
    # what training chose on validation, for the training summary
    ensemble_validation: float | None = None
    blend_validation: dict[str, float] | None = None  # "co-occurrence weight,text weight" -> NDCG@10
    cold_calibration: dict[str, Any] | None = None
    cold_weights_validation: dict[str, Any] | None = None  # how new products' own weights were chosen
    word_validation: dict[str, float] | None = None  # "lead=L,decay=D" -> the word term's NDCG@10 alone
    net: SequenceNet | NetworkEnsemble
    uses_ids = True
    prior: ItemKNNRecommender | None = None
    prior_weight = 0.0
    affinity: np.ndarray | None = None  # unit text vectors for the text-affinity term
    affinity_decay = 0.3
    text_metric: np.ndarray | None = None  # learned metric of the text-affinity term (None: cosine)
    text_weight = 0.0
    reads_words = False  # whether the title-word affinity term may join the blend (lmrec)
    words: WordVectors | None = None  # the term's vocabulary, when the blend uses it
    word_vectors: sp.csr_matrix | None = None  # (n_items, vocabulary) unit TF-IDF rows of the catalog
    word_weight = 0.0
    cold_offset = 0.0
    # new products' own co-occurrence and text weights, chosen on validation (None: the others')
    cold_prior_weight: float | None = None
    cold_text_weight: float | None = None
    cold_word_weight: float | None = None
    donors: Donors | None = None  # text neighbours each item borrows an ID part and co-occurrence from
    donor_text: np.ndarray | None = None  # unit text vectors of the seen items (new items' donors)
    donor_items: np.ndarray | None = None
    ranker: Ranker | None = None  # the ranking stage over retrieval's top candidates
    ranker_info: dict[str, Any] | None = None

    def text_vectors_for(self, data: TrainingData) -> np.ndarray | None:
        """(n_items, text_dim) item text vectors, or None for a model of item IDs only."""
        return None

    def build(self, counts: np.ndarray, text_vectors: np.ndarray | None) -> None:
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
        has_prior, has_text = self.prior is not None, self.affinity is not None
        return BlendWeights(
            self.prior_weight if has_prior else 0.0,
            self.text_weight if has_text else 0.0,
            self.cold_offset,
            self.cold_prior_weight if has_prior else None,
            self.cold_text_weight if has_text else None,
            self.word_weight if self.word_vectors is not None else 0.0,
            self.cold_word_weight if self.word_vectors is not None else None,
        )

    def members(self) -> list[SequenceNet]:
        """The trained networks (one, or an ensemble's members)."""
        return list(self.net.nets) if isinstance(self.net, NetworkEnsemble) else [self.net]

    def fit(self, data: TrainingData) -> Self:
        # training lives in semrec.training, reached only here: serving a model never loads it
        from semrec.training.fitting import fit_sequential

        fit_sequential(self, data)
        return self

    def fit_after_networks(self, data: TrainingData) -> None:
        """Fits again, on ``data``'s validation, what follows the trained networks: the blend
        weights, new products' weights and offset, and the ranking stage (``semrec train
        --networks-from``)."""
        from semrec.training.fitting import fit_blend, fit_ranking_stage

        fit_blend(self, data)
        fit_ranking_stage(self, data)

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
        donors'), 'text' (cosine of the shopper's recent item text to each item's) and 'words' (the
        title-word affinity, when the blend uses it)."""
        parts = {"network": self.network_scores(histories)}
        if self.prior is not None:
            raw = self.prior.score(histories)
            cold = np.flatnonzero(self.counts == 0)
            if self.donors is not None and len(cold):
                donors = self.donors.items[cold]
                raw[:, cold] = borrowed_prior(raw[:, donors], self.donors.weights[cold])
            parts["prior"] = prior_term(raw)
        if self.affinity is not None:
            parts["text"] = text_affinity(histories, self.affinity, self.affinity_decay, self.text_metric)
        if self.words is not None and self.word_vectors is not None:
            parts["words"] = word_affinity(histories, self.word_vectors, self.words.decay)
        return parts

    def score(self, histories: Sequence[np.ndarray]) -> np.ndarray:
        weights = self.weights
        if not weights.active:
            return self.network_scores(histories)
        parts = self.score_parts(histories)
        out = blend_parts(parts, weights, self.counts == 0)
        empty = np.array([len(h) == 0 for h in histories], dtype=bool)
        out[empty] = self.fallback  # no history: the popularity order
        return out

    def recommend(
        self, histories: Sequence[np.ndarray], k: int = 10, exclude: Sequence[np.ndarray] | None = None
    ) -> np.ndarray:
        """Retrieval's best items; with a ranker, its first ``ranker.n_candidates`` re-ordered by it
        (a shopper with no history gets the popularity order either way)."""
        if self.ranker is None:
            return super().recommend(histories, k, exclude)
        return self.scored_lists(histories, k, exclude)[0]

    def scored_lists(
        self, histories: Sequence[np.ndarray], k: int, exclude: Sequence[np.ndarray] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(items, scores), each (shoppers, k): :meth:`recommend`'s lists with the score each item
        is ranked by: the blend, or with a ranker its p(next item) for the candidates it re-scored
        (NaN for the rest of a longer list; an empty history keeps the popularity order's scores)."""
        from semrec.models.ranker import candidates

        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")

        def plain(rows: list[int]) -> tuple[np.ndarray, np.ndarray]:
            scores = self.score([histories[i] for i in rows])
            ranked = top_k(scores, k, [exclude[i] for i in rows] if exclude is not None else None)
            return ranked, np.take_along_axis(scores, np.maximum(ranked, 0), axis=1).astype(np.float64)

        everyone = list(range(len(histories)))
        if self.ranker is None:
            return plain(everyone)
        ranked = np.full((len(histories), min(k, len(self.counts))), -1, dtype=np.int64)
        scores = np.full(ranked.shape, np.nan)
        empty = [i for i in everyone if not len(histories[i])]
        rows = [i for i in everyone if len(histories[i])]
        if empty:
            ranked[empty], scores[empty] = plain(empty)
        if rows:
            shortlist = candidates(
                self,
                [histories[i] for i in rows],
                max(k, self.ranker.n_candidates),
                [exclude[i] for i in rows] if exclude is not None else None,
                fresh=self.ranker.fresh,
                head=self.ranker.n_candidates,
            )
            ranked[rows], scores[rows] = self.ranker.ranked(shortlist, k)
        return ranked, scores

    @torch.inference_mode()
    def item_vectors(self) -> np.ndarray:
        """(n_items, dim) the vectors next-item scores are dot products with."""
        self.net.eval()
        return self.net.items()[1:].float().cpu().numpy()

    def training_summary(self) -> dict[str, Any]:
        return training_summary(self)

    def save_state(self, directory: Path) -> None:
        save_state(self, directory)

    def load_state(self, directory: Path) -> None:
        load_state(self, directory)


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
    reads_words = True

    @dataclass(frozen=True)
    class Config(LMRecConfig):
        pass

    config: Config

    def __init__(self, config: Any = None) -> None:
        super().__init__(config)
        if self.config.mode not in MODES:
            raise ValueError(f"mode {self.config.mode!r} is not allowed; choose one of {list(MODES)}")
        if self.config.cold_rule not in COLD_RULES:
            raise ValueError(
                f"cold_rule {self.config.cold_rule!r} is not allowed; choose one of {list(COLD_RULES)}"
            )
        lead, decay = self.config.word_lead, self.config.word_decay
        if lead not in (-1, 0, 1):
            raise ValueError(f"word_lead must be -1 (chosen on validation), 0 or 1, got {lead}")
        if not (decay < 0 or 0 < decay <= 1):
            raise ValueError(f"word_decay must lie in (0, 1], or be -1 (chosen on validation), got {decay}")
        self.uses_ids = self.config.hybrid
        self.encoder_log: dict[str, float] = {}
        self.adapted_encoder: TextEncoder | None = None  # lora / full: the encoder after adaptation
        self.encoder_path: Path | None = None  # where the adapted encoder was loaded from

    def text_vectors_for(self, data: TrainingData) -> np.ndarray | None:
        """The catalog's text vectors from the frozen encoder (``mode`` lora / full adapts the
        encoder first: :func:`~semrec.training.fitting.adapted_text_vectors`)."""
        if self.config.mode != "frozen":
            raise ValueError(f"mode {self.config.mode!r}: the encoder is adapted while fitting")
        frozen = load_encoder(
            self.config.encoder, max_length=self.config.text_max_length, device=self.config.device
        )
        log_backend(frozen)
        vectors = encode_cached(frozen, catalog_texts(data.items), progress="embedding items")
        return whiten(vectors, self.config.text_components)

    def adopt_encoder(self, encoder: TextEncoder, log_entry: dict[str, float]) -> None:
        """Keeps the encoder adapted to this shop: saved with the artifacts, it embeds new products."""
        self.adapted_encoder, self.encoder_log = encoder, log_entry

    def encoder_reference(self) -> str:
        """The encoder that embeds new item text: the adapted copy in the artifacts, or the configured one."""
        return str(self.encoder_path) if self.encoder_path is not None else self.config.encoder

    def save_state(self, directory: Path) -> None:
        super().save_state(directory)
        if self.adapted_encoder is not None:  # new products must be embedded by the same weights
            self.adapted_encoder.model.save_pretrained(directory / "encoder")
            self.adapted_encoder.tokenizer.save_pretrained(directory / "encoder")
        elif self.encoder_path is not None:  # loaded with one (a continual retrain): carried along
            shutil.copytree(self.encoder_path, directory / "encoder")

    def load_state(self, directory: Path) -> None:
        super().load_state(directory)
        adapted = directory / "encoder"
        self.encoder_path = adapted if (adapted / "config.json").exists() else None

    def training_summary(self) -> dict[str, Any]:
        summary = super().training_summary()
        if self.encoder_log:
            summary["encoder"] = self.encoder_log
        return summary
