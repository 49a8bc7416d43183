"""A sequential model (sasrec, lmrec) as `semrec export` leaves it for serving: its networks as ONNX
graphs under ``serving/``, the rest of its state as the arrays and files training wrote. Loading it
imports no torch; it scores exactly as the trained model does (tests hold the two equal)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from semrec.models.blend import BlendWeights, Donors, text_neighbours
from semrec.models.itemknn import ItemKNNRecommender
from semrec.models.ranker import Ranker
from semrec.models.words import WordVectors

EXPORT_FOLDER = "serving"  # under the artifacts; config.json names it as "serving_export"
TOWER_FILE = "tower.onnx"
NEW_ITEMS_FILE = "new_items.onnx"
METRIC_FILE = "text_metric.npy"  # the learned metric of the text-affinity term, when training fitted one
WORD_VECTORS_FILE = "word_vectors.npz"  # the catalog's title-word vectors, when the blend uses them


def load_scoring_state(
    directory: Path,
) -> tuple[ItemKNNRecommender | None, dict[str, float | None], Ranker | None]:
    """What a sequential model adds to its networks' scores, as training saved it: the co-occurrence
    prior, the blend weights (co-occurrence, text, new products' offset and their own weights, None
    where they take the others') and the ranking stage."""
    prior = None
    if (directory / "prior").is_dir():
        prior = ItemKNNRecommender()
        prior.load_state(directory / "prior")
    weights: dict[str, float | None] = {
        "cooccurrence_weight": 0.0,
        "text_weight": 0.0,
        "word_weight": 0.0,  # artifacts written before the title-word term
        "cold_offset": 0.0,
        "cold_cooccurrence_weight": None,  # artifacts written before new products had weights of their own
        "cold_text_weight": None,
        "cold_word_weight": None,  # artifacts written before new products' own title-word weight
    }
    blend = directory / "blend.json"
    if blend.exists():
        weights.update({k: None if v is None else float(v) for k, v in json.loads(blend.read_text()).items()})
    elif prior is not None:  # artifacts written before blend.json
        saved = json.loads((directory / "prior" / "weight.json").read_text())
        weights["cooccurrence_weight"] = float(saved["weight"])
    if prior is None:
        weights["cooccurrence_weight"] = 0.0
    ranker = Ranker.load(directory / "ranker") if (directory / "ranker").is_dir() else None
    return prior, weights, ranker


def load_words(directory: Path) -> tuple[WordVectors | None, sp.csr_matrix | None]:
    """The title-word term's vocabulary and the catalog's word vectors, or (None, None)."""
    words = WordVectors.load(directory)
    path = directory / WORD_VECTORS_FILE
    if words is None or not path.exists():
        return None, None
    return words, sp.csr_matrix(sp.load_npz(path), dtype=np.float32)


def load_text_metric(directory: Path) -> np.ndarray | None:
    """The learned metric of the text-affinity term training saved, or None (the plain cosine)."""
    path = directory / METRIC_FILE
    return np.load(path) if path.exists() else None


class ExportedSequential:
    """What the server reads of a sequential model: item vectors, training counts, donors of items
    without an ID of their own, the blend and the ranking stage, and the graphs' files."""

    def __init__(self, directory: Path, config: dict[str, Any]) -> None:
        directory = Path(directory)
        settings = config["settings"]
        self.folder = directory / str(config["serving_export"])
        if not (self.folder / TOWER_FILE).exists():
            again = f"run `semrec export --artifacts {directory}` again"
            raise ValueError(f"{self.folder}: no {TOWER_FILE}; {again}")
        self.max_len = int(settings["max_len"])
        self.counts = np.load(directory / "train_counts.npy")
        self.item_vectors = np.load(directory / "item_vectors.npy").astype(np.float32)
        text = directory / "text_vectors.npy"
        text_vectors = np.load(text) if text.exists() else None
        self.neighbours = int(settings.get("cold_neighbours", 0))  # 0 when trained before borrowing
        self.temperature = float(settings.get("cold_temperature", 0.05))
        self.affinity_decay = float(settings.get("text_decay", 0.3))
        self.text_metric = load_text_metric(directory)
        reads_raw_text = int(settings.get("text_components", 0)) == 0
        self.donors: Donors | None = None
        self.donor_text = self.donor_items = None
        if text_vectors is not None and self.neighbours > 0:
            norms = np.linalg.norm(text_vectors, axis=1, keepdims=True)
            unit = (text_vectors / np.maximum(norms, 1e-12)).astype(np.float32)
            seen = self.counts > 0
            self.donor_text, self.donor_items = unit[seen], np.flatnonzero(seen)
            self.donors = self.donors_for(unit, np.arange(len(self.counts)))
        self.prior, blend, self.ranker = load_scoring_state(directory)
        self.words, self.word_vectors = load_words(directory)
        has_text = text_vectors is not None and reads_raw_text
        self.weights = BlendWeights(
            float(blend["cooccurrence_weight"] or 0.0) if self.prior is not None else 0.0,
            float(blend["text_weight"] or 0.0) if has_text else 0.0,
            float(blend["cold_offset"] or 0.0),
            blend["cold_cooccurrence_weight"] if self.prior is not None else None,
            blend["cold_text_weight"] if has_text else None,
            float(blend["word_weight"] or 0.0) if self.words is not None else 0.0,
            blend["cold_word_weight"] if self.words is not None else None,
        )
        adapted = directory / "encoder"
        configured = str(settings.get("encoder", ""))
        self.encoder = str(adapted) if (adapted / "config.json").exists() else configured

    def donors_for(self, unit_text: np.ndarray, own_items: np.ndarray | None = None) -> Donors:
        """The donors of items with these unit text vectors (as the trained model finds them)."""
        assert self.donor_text is not None and self.donor_items is not None
        return text_neighbours(
            unit_text, self.donor_text, self.donor_items, self.neighbours, self.temperature, own_items
        )

    def encoder_reference(self) -> str:
        return self.encoder

    @property
    def new_items_graph(self) -> Path | None:
        path = self.folder / NEW_ITEMS_FILE
        return path if path.exists() else None
