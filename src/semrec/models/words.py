"""The title-word affinity term: how many of the words of an item's title (and brand) the shopper's
recent titles share, weighted by how rare each word is in the catalog (TF-IDF cosine).

A sentence encoder blurs the words that tell two products of one kind apart (a brand, a line, a
shade); a shopper who buys one product of a brand often buys another. The term reads an item's
words only, so it scores a product nobody has bought yet exactly as it scores the rest. The
vocabulary and the words' weights are learned from the training catalog's titles and kept in the
artifacts: a product added later is weighed by the same vocabulary (words it alone has count
nothing), offline and in the server alike.

Two choices of the term are made on validation, by how well the term alone ranks validation's next
items (:func:`semrec.training.fitting.choose_words`): how fast a shopper's older items fade
(``decay``; a brand is remembered longer than a product type) and whether a title's first word,
most often its brand, also counts as a word of its own (``lead``: "nyx" first in a title is a brand,
"nyx" later may be a shade name). Both are kept with the vocabulary.
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
LEAD = "lead:"  # prefix of the token that marks a title's first word
TEXT_DECAY = 0.3  # artifacts saved before ``decay`` was kept used the text affinity's decay


class Analyser:
    """The words of one item text: scikit-learn's default tokens (lower case, two or more word
    characters), and with ``lead`` the first of them once more as a token of its own. A class, not a
    closure, so that a model holding it can be pickled (Ray ships models to its workers)."""

    def __init__(self, lead: bool) -> None:
        self.lead = lead
        self._tokens = TfidfVectorizer().build_analyzer()

    def __call__(self, text: str) -> list[str]:
        tokens = list(self._tokens(text))
        return [*tokens, LEAD + tokens[0]] if self.lead and tokens else tokens


def catalog_words(items: pd.DataFrame) -> list[str]:
    """Each catalog row's title and brand, as the server reads them from its listing."""
    titles = items["title"] if "title" in items.columns else pd.Series([""] * len(items))
    brands = items["brand"] if "brand" in items.columns else pd.Series([""] * len(items))
    ids = items["item_id"].astype(str)
    return [word_text(t, b, i) for t, b, i in zip(titles, brands, ids, strict=True)]


class WordVectors:
    """Unit TF-IDF vectors of item words (sublinear term counts; words in fewer than two titles of
    the training catalog are left out: they cannot match another product), with the recency
    ``decay`` shopper profiles are built by and whether a title's first word counts twice (``lead``)."""

    def __init__(self, vectorizer: TfidfVectorizer, decay: float = TEXT_DECAY, lead: bool = False) -> None:
        if not 0 < decay <= 1:
            raise ValueError(f"word decay must lie in (0, 1], got {decay}")
        self.vectorizer = vectorizer
        self.decay = float(decay)
        self.lead = bool(lead)

    @classmethod
    def fit(cls, texts: Sequence[str], decay: float = TEXT_DECAY, lead: bool = False) -> WordVectors:
        vectorizer = TfidfVectorizer(sublinear_tf=True, min_df=2, dtype=np.float32, analyzer=Analyser(lead))
        try:
            vectorizer.fit(list(texts))
        except ValueError:  # no word in two titles: an empty vocabulary, every vector zero
            vectorizer = _vectorizer(["\x00"], lead)
            vectorizer.fit(["\x00"])
        return cls(vectorizer, decay, lead)

    def transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        """(len(texts), vocabulary) unit rows (a text with no known word: a zero row)."""
        return sp.csr_matrix(self.vectorizer.transform(list(texts)), dtype=np.float32)

    @property
    def size(self) -> int:
        return len(self.vectorizer.vocabulary_)

    def save(self, directory: Path) -> None:
        words = sorted(self.vectorizer.vocabulary_, key=self.vectorizer.vocabulary_.__getitem__)
        state: dict[str, Any] = {
            "words": words,
            "idf": [float(v) for v in self.vectorizer.idf_],
            "decay": self.decay,
            "lead": self.lead,
        }
        (directory / WORDS_FILE).write_text(json.dumps(state))

    @classmethod
    def load(cls, directory: Path) -> WordVectors | None:
        """The saved term, or None; one saved before ``decay`` and ``lead`` were kept scores as it
        did then (the text affinity's decay, no lead token)."""
        path = directory / WORDS_FILE
        if not path.exists():
            return None
        state = json.loads(path.read_text())
        lead = bool(state.get("lead", False))
        vectorizer = _vectorizer(state["words"], lead)
        vectorizer.idf_ = np.asarray(state["idf"], dtype=np.float64)
        return cls(vectorizer, float(state.get("decay", TEXT_DECAY)), lead)


def _vectorizer(vocabulary: Sequence[str], lead: bool) -> TfidfVectorizer:
    """A vectorizer over a fixed ``vocabulary`` (its idf set by the caller, or by fitting)."""
    return TfidfVectorizer(
        sublinear_tf=True, dtype=np.float32, vocabulary=list(vocabulary), analyzer=Analyser(lead)
    )


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
