"""The title-word affinity term: how many of the words of an item's title (and brand) the shopper's
recent titles share, weighted by how rare each word is in the catalog (TF-IDF cosine).

A sentence encoder blurs the words that tell two products of one kind apart (a brand, a line, a
shade); a shopper who buys one product of a brand often buys another. The term reads an item's
words only, so it scores a product nobody has bought yet exactly as it scores the rest. The
vocabulary and the words' weights are learned from the training catalog's titles and kept in the
artifacts: a product added later is weighed by the same vocabulary (words it alone has count
nothing), offline and in the server alike.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer

from semrec.data.text import word_text
from semrec.models.base import recency_weights

WORDS_FILE = "words.json"


def catalog_words(items: pd.DataFrame) -> list[str]:
    """Each catalog row's title and brand, as the server reads them from its listing."""
    titles = items["title"] if "title" in items.columns else pd.Series([""] * len(items))
    brands = items["brand"] if "brand" in items.columns else pd.Series([""] * len(items))
    ids = items["item_id"].astype(str)
    return [word_text(t, b, i) for t, b, i in zip(titles, brands, ids, strict=True)]


class WordVectors:
    """Unit TF-IDF vectors of item words (sublinear term counts; words in fewer than two titles of
    the training catalog are left out: they cannot match another product)."""

    def __init__(self, vectorizer: TfidfVectorizer) -> None:
        self.vectorizer = vectorizer

    @classmethod
    def fit(cls, texts: Sequence[str]) -> WordVectors:
        vectorizer = TfidfVectorizer(sublinear_tf=True, min_df=2, dtype=np.float32)
        try:
            vectorizer.fit(list(texts))
        except ValueError:  # no word in two titles: an empty vocabulary, every vector zero
            vectorizer = TfidfVectorizer(sublinear_tf=True, dtype=np.float32, vocabulary=["\x00"])
            vectorizer.fit(["\x00"])
        return cls(vectorizer)

    def transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        """(len(texts), vocabulary) unit rows (a text with no known word: a zero row)."""
        return sp.csr_matrix(self.vectorizer.transform(list(texts)), dtype=np.float32)

    @property
    def size(self) -> int:
        return len(self.vectorizer.vocabulary_)

    def save(self, directory: Path) -> None:
        words = sorted(self.vectorizer.vocabulary_, key=self.vectorizer.vocabulary_.__getitem__)
        state: dict[str, Any] = {"words": words, "idf": [float(v) for v in self.vectorizer.idf_]}
        (directory / WORDS_FILE).write_text(json.dumps(state))

    @classmethod
    def load(cls, directory: Path) -> WordVectors | None:
        path = directory / WORDS_FILE
        if not path.exists():
            return None
        state = json.loads(path.read_text())
        vectorizer = TfidfVectorizer(sublinear_tf=True, dtype=np.float32, vocabulary=state["words"])
        vectorizer.idf_ = np.asarray(state["idf"], dtype=np.float64)
        return cls(vectorizer)


def word_profiles(histories: Sequence[np.ndarray], vectors: sp.csr_matrix, decay: float) -> sp.csr_matrix:
    """(shoppers, vocabulary) unit rows: each history's recency-weighted (``decay`` per step back)
    sum of its items' rows of ``vectors``; a zero row for an empty history."""
    lengths = [len(h) for h in histories]
    rows = np.repeat(np.arange(len(histories)), lengths)
    cols = np.concatenate([np.asarray(h, dtype=np.int64) for h in histories] or [rows])
    weights = np.concatenate([recency_weights(n, decay) for n in lengths] or [np.zeros(0)])
    mix = sp.csr_matrix((weights.astype(np.float32), (rows, cols)), shape=(len(histories), vectors.shape[0]))
    profiles = sp.csr_matrix(mix @ vectors)
    norms = np.sqrt(np.asarray(profiles.multiply(profiles).sum(axis=1))).ravel()
    return sp.csr_matrix(sp.diags(1.0 / np.maximum(norms, 1e-12)).astype(np.float32) @ profiles)


def word_affinity(
    histories: Sequence[np.ndarray],
    vectors: sp.csr_matrix,
    decay: float,
    items: sp.csr_matrix | None = None,
) -> np.ndarray:
    """(shoppers, items) cosine of each item's word vector (rows of ``items``, default ``vectors``)
    to the shopper's word profile (histories index ``vectors``)."""
    scored = vectors if items is None else items
    return np.asarray((word_profiles(histories, vectors, decay) @ scored.T).todense(), dtype=np.float32)
