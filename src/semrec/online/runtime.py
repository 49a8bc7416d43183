"""A trained model as the server uses it: item vectors, a shopper -> query vector function, and the
text encoder that embeds new products and search queries.

Recommendation scores are inner products ``query @ item_vector`` for every model that can serve
(text-zeroshot, sasrec, lmrec), so one vector index answers them all.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from semrec.artifacts import load_artifacts, load_catalog, read_config
from semrec.data.text import catalog_texts
from semrec.encoders.batching import encode_cached
from semrec.encoders.choice import choose_query_backend, exported_copy
from semrec.encoders.factory import load_encoder
from semrec.encoders.protocol import Encoder
from semrec.hardware import cpu_info
from semrec.models.base import recency_profiles
from semrec.models.blend import BlendWeights, Donors, blend_parts, borrowed_prior, prior_term, shopper_taste
from semrec.models.exported import ExportedSequential
from semrec.models.ranker import Ranker
from semrec.models.words import WordVectors
from semrec.online.graphs import GraphNewItems, GraphTower, TowerBackend
from semrec.online.word_cache import ServedWords

SERVABLE = ("text-zeroshot", "sasrec", "lmrec")

log = logging.getLogger("semrec.online")


class ModelRuntime:
    def __init__(
        self,
        directory: Path,
        device: str = "cpu",
        tower: TowerBackend = "onnx",
        query_encoder: str = "same",
        ranker: bool = True,
    ) -> None:
        self.directory = Path(directory)
        config = read_config(self.directory)
        # artifacts whose networks `semrec export` wrote as graphs are served without torch
        exported = bool(config.get("serving_export")) and tower == "onnx"
        if exported:
            model: Any = ExportedSequential(self.directory, config)
            item_ids: list[str] = json.loads((self.directory / "item_ids.json").read_text())
        else:
            model, item_ids, config = load_artifacts(self.directory)
        if config["model"] not in SERVABLE:
            raise ValueError(
                f"model {config['model']!r} cannot be served (it has no item vectors); "
                f"train one of {list(SERVABLE)}"
            )
        self.model: Any = model  # a Recommender, or an ExportedSequential (no torch)
        self.name: str = config["model"]
        self.config: dict[str, Any] = config
        self.version = f"{self.name}@{config.get('created', 'unknown')}"
        self.item_ids = item_ids
        self.index_of = {item_id: i for i, item_id in enumerate(item_ids)}  # trained catalog position
        self.catalog: pd.DataFrame = load_catalog(self.directory)
        if [str(i) for i in self.catalog["item_id"]] != item_ids:
            raise ValueError(f"{self.directory}: catalog.jsonl does not match item_ids.json")
        settings = config["settings"]
        reference = getattr(model, "encoder_reference", None)
        encoder_name = reference() if callable(reference) else settings.get("encoder", "minilm")
        max_length = int(settings.get("text_max_length", settings.get("max_length", 64)))
        encoder_export = config.get("encoder_export")  # by `semrec export`: a faster backend of it
        if encoder_export:
            encoder_name = str(self.directory / encoder_export)
        self.encoder: Encoder = load_encoder(
            encoder_name, max_length=max_length, batch_size=64, device=device
        )
        # search queries may take a faster backend; new products keep the products' encoder, so that
        # they sit in the space the model was trained in
        self.query_encoder: Encoder = self.encoder
        backend = choose_query_backend(query_encoder, _flags(), self.encoder)
        if backend != self.encoder.backend:
            self.query_encoder = self._query_encoder(backend, query_encoder)
        self.net: Any = getattr(model, "net", None)
        self.tower: Any = None  # a GraphTower, or the torch ShopperTower; None: recency profiles
        self.new_items: Any = None  # vectors of products added since training, when it can make them
        if isinstance(model, ExportedSequential):
            self.item_vectors = model.item_vectors
            self.tower = GraphTower(model.folder / "tower.onnx", model.max_len, self.item_vectors.shape[1])
            graph = model.new_items_graph
            self.new_items = GraphNewItems(graph) if graph is not None else None
        elif self.net is not None:
            self._torch_networks(tower)
        else:
            self.item_vectors = np.asarray(model.item_vectors, dtype=np.float32)
        self.text_vectors = self._catalog_text_vectors()
        self.popularity = self._popularity()
        # lmrec's co-occurrence prior and text affinity (weights chosen on validation) re-score the
        # retrieved candidates, through the same blend as offline (semrec.models.blend)
        self.prior = getattr(model, "prior", None)
        weights = getattr(model, "weights", None)
        self.weights: BlendWeights = weights if isinstance(weights, BlendWeights) else BlendWeights()
        self.text_decay = float(getattr(model, "affinity_decay", 0.3))
        self.text_metric: np.ndarray | None = getattr(model, "text_metric", None)
        # the title-word affinity term's vocabulary (when the blend uses it), with the word vectors
        # of the texts met lately (semrec.online.word_cache)
        words: WordVectors | None = getattr(model, "words", None) if self.weights.uses_words else None
        self.words: ServedWords | None = ServedWords(words) if words is not None else None
        # the ranking stage re-scores the shortlist's head (when the artifacts carry one)
        self.ranker: Ranker | None = getattr(model, "ranker", None) if ranker else None
        # donors of products added since training, found once (when they are embedded), by text vector
        self._found: dict[bytes, tuple[np.ndarray, np.ndarray]] = {}

    def _query_encoder(self, backend: str, setting: str) -> Encoder:
        """The export that embeds queries; chosen by ``auto`` and not to be had (a cache that cannot
        be written, an export that fails), the products' encoder, which always works, and a warning."""
        try:
            return load_encoder(str(exported_copy(self.encoder, backend)), batch_size=64)
        except Exception as error:
            if setting != "auto":
                raise
            log.warning("search queries keep the products' encoder: no %s export (%s)", backend, error)
            return self.encoder

    def _torch_networks(self, tower: TowerBackend) -> None:
        """The trained networks themselves: the tower exported to a graph at start (or run by
        torch), new products' vectors by the item table."""
        import torch

        from semrec.online.tower import ShopperTower

        self.net.to("cpu").eval()
        with torch.inference_mode():
            self.item_vectors = self.net.items()[1:].float().numpy().copy()
        self.tower = ShopperTower(self.net, tower)
        table = self.net.items
        if table.experts is not None and int(self.config["settings"].get("text_components", 0)) == 0:

            def new_items(text: np.ndarray, rows: np.ndarray, weights: np.ndarray) -> np.ndarray:
                donors = (torch.from_numpy(rows), torch.from_numpy(weights))
                with torch.inference_mode():
                    return table.cold_vectors(torch.from_numpy(text.astype(np.float32)), donors).numpy()

            self.new_items = new_items

    @property
    def uses_text(self) -> bool:
        """Whether candidates' scores read the shopper's text affinity (for some items at least)."""
        return self.weights.uses_text

    @property
    def rescores(self) -> bool:
        """Whether retrieved candidates get more than the network's score."""
        return self.weights.active or self.ranker is not None

    @property
    def dim(self) -> int:
        return int(self.item_vectors.shape[1])

    def _catalog_text_vectors(self) -> np.ndarray:
        """Unit text vectors of the catalog from this runtime's encoder (search reads these)."""
        if self.name == "text-zeroshot":
            return self.item_vectors
        return encode_cached(self.encoder, catalog_texts(self.catalog), progress="embedding the catalog")

    def _popularity(self) -> np.ndarray:
        for name in ("train_counts.npy", "popularity.npy"):
            path = self.directory / name
            if path.exists():
                return np.load(path).astype(np.float64)
        return np.zeros(len(self.item_ids))

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Product texts, by the products' encoder."""
        return self.encoder.encode(list(texts))

    def encode_query(self, query: str) -> np.ndarray:
        """One search query, by the query encoder."""
        return self.query_encoder.encode([query])[0]

    def adapt(self, text_vectors: np.ndarray) -> np.ndarray | None:
        """Recommendation vectors for items the model never saw, from their text; None if it cannot."""
        if self.name == "text-zeroshot":
            return text_vectors.astype(np.float32)
        if self.new_items is None:
            return None  # ID-only model, or text whitened by a catalog transform not kept for new items
        donors = self.donors(np.full(len(text_vectors), -1), text_vectors)
        return np.asarray(self.new_items(text_vectors, donors.items, donors.weights), dtype=np.float32)

    def donors(self, trained: np.ndarray, text_vectors: np.ndarray) -> Donors:
        """The donors of items with no ID of their own: stored for those of the training catalog
        (``trained`` >= 0), found by text for items added since (-1)."""
        model: Any = self.model
        if getattr(model, "donors", None) is None:
            empty = np.zeros((len(trained), 1), dtype=np.int64)
            return Donors(empty, np.zeros((len(trained), 1), dtype=np.float32))
        items = model.donors.items[np.maximum(trained, 0)].copy()
        weights = model.donors.weights[np.maximum(trained, 0)].copy()
        new = np.flatnonzero(trained < 0)
        keys = [_digest(text_vectors[i]) for i in new]
        missing = [j for j, key in enumerate(keys) if key not in self._found]
        if missing:  # a search over the seen items' text: done once per product, not per request
            vectors = text_vectors[new[missing]]
            unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
            found = model.donors_for(unit.astype(np.float32))
            for j, own, weight in zip(missing, found.items, found.weights, strict=True):
                self._found[keys[j]] = (own, weight)
        for i, key in zip(new, keys, strict=True):
            items[i], weights[i] = self._found[key]
        return Donors(items, weights)

    def queries(self, histories: Sequence[np.ndarray], vectors: np.ndarray) -> np.ndarray:
        """(batch, dim) query vectors from histories of rows into ``vectors`` (rows, dim), oldest first.

        An empty history gives a zero vector.
        """
        out = np.zeros((len(histories), self.dim), dtype=np.float32)
        nonempty = [i for i, h in enumerate(histories) if len(h)]
        if not nonempty:
            return out
        if self.tower is None:
            return recency_profiles(histories, vectors, float(self.config["settings"].get("decay", 0.3)))
        assert self.tower is not None
        length = min(self.tower.length, max(len(histories[i]) for i in nonempty))
        items = np.zeros((len(nonempty), length, self.dim), dtype=np.float32)
        padding = np.ones((len(nonempty), length), dtype=bool)
        for row, i in enumerate(nonempty):
            tail = np.asarray(histories[i][-length:], dtype=np.int64)
            items[row, length - len(tail) :] = vectors[tail]  # only the rows needed, any catalog size
            padding[row, length - len(tail) :] = False
        out[nonempty] = self.tower(items, padding)
        return out

    def taste(self, text_vectors: np.ndarray) -> np.ndarray:
        """What the text-affinity term multiplies candidates' unit text vectors by: the shopper's unit
        text profile from their history's (oldest first), through the learned metric when there is one."""
        profile = recency_profiles([np.arange(len(text_vectors))], text_vectors, self.text_decay)
        return shopper_taste(profile, self.text_metric)[0]

    def rescore(
        self,
        history: np.ndarray,
        candidates: np.ndarray,
        scores: np.ndarray,
        affinity: np.ndarray | None = None,
        text_vectors: np.ndarray | None = None,
        words: np.ndarray | None = None,
    ) -> np.ndarray:
        """The offline model's score (:func:`semrec.models.blend.blend`) of ``candidates``
        (training-catalog indices, -1 for items added later) from their network ``scores``, the
        shopper's ``history`` (training-catalog indices, -1 for items added later, oldest first), the
        text ``affinity`` of each candidate and its unit ``text_vectors`` (to find the donors of an
        item added later), and its title-word affinity ``words`` when the blend reads it."""
        return self.blend(self.score_parts(history, candidates, scores, affinity, text_vectors, words))

    def new(self, candidates: np.ndarray) -> np.ndarray:
        """Which ``candidates`` (training-catalog indices, -1 for items added later) have no training
        events of their own."""
        warm = candidates >= 0
        warm[warm] = self.model.counts[candidates[warm]] > 0
        return ~warm

    def score_parts(
        self,
        history: np.ndarray,
        candidates: np.ndarray,
        scores: np.ndarray,
        affinity: np.ndarray | None = None,
        text_vectors: np.ndarray | None = None,
        words: np.ndarray | None = None,
    ) -> dict[str, np.ndarray]:
        """The parts :meth:`rescore` adds up (arguments as there): 'network', 'prior' (when the model
        has co-occurrence and it counts: a weight, or a ranker that reads it), 'text' (with an
        ``affinity``), 'words' (with the title-word affinity ``words``) and 'new' (no training events
        of its own)."""
        warm = ~self.new(candidates)
        parts = {"network": scores, "new": ~warm}
        if self.prior is not None and (self.weights.uses_prior or self.ranker is not None):
            raw = np.zeros(len(candidates), dtype=np.float32)
            raw[warm] = self.prior.score_items(history, candidates[warm])
            cold = np.flatnonzero(~warm)
            if len(cold) and getattr(self.model, "donors", None) is not None:
                assert text_vectors is not None, "items with no co-occurrence need their text vectors"
                donors = self.donors(candidates[cold], text_vectors[cold])
                donated = self.prior.score_items(history, donors.items.ravel()).reshape(donors.items.shape)
                raw[cold] = borrowed_prior(donated[None], donors.weights)[0]
            parts["prior"] = prior_term(raw)
        if affinity is not None:
            parts["text"] = affinity
        if words is not None:
            parts["words"] = words
        return parts

    def blend(self, parts: dict[str, np.ndarray]) -> np.ndarray:
        rows = {name: part[None] for name, part in parts.items() if name != "new"}
        return blend_parts(rows, self.weights, parts["new"])[0]


def _digest(vector: np.ndarray) -> bytes:
    """A 16-byte key for a text vector (its float32 bytes hashed)."""
    return hashlib.blake2b(np.asarray(vector, dtype=np.float32).tobytes(), digest_size=16).digest()


def _flags() -> dict[str, bool]:
    flags = cpu_info()["flags"]
    return flags if isinstance(flags, dict) else {}
