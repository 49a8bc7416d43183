"""The title-word affinity term: its vectors, saved and loaded, and the cosine it scores by."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from semrec.data.text import listed_words, word_text
from semrec.models.base import recency_weights
from semrec.models.words import WordVectors, catalog_words, word_affinity
from semrec.schema import Item

TITLES = [
    "Pura Glitter Top Coat Nail Polish",
    "Pura Matte Nail Polish Red",
    "Lumi Vitamin C Face Serum",
    "Lumi Night Face Cream",
    "Solo Shampoo",
]


def test_catalog_words_read_title_and_brand_as_the_listing_does() -> None:
    items = pd.DataFrame(
        {"item_id": ["a", "b"], "title": ["Red &amp; Gold Polish", None], "brand": ["Pura", None]}
    )
    assert catalog_words(items) == ["Red & Gold Polish Pura", "b"]
    listed = Item(item_id="a", title="Red &amp; Gold Polish", brand="Pura").listing()
    assert listed_words(listed) == word_text("Red &amp; Gold Polish", "Pura", "a") == catalog_words(items)[0]


def test_vectors_survive_saving_and_unknown_words_count_nothing(tmp_path: Path) -> None:
    words = WordVectors.fit(TITLES)
    assert "shampoo" not in words.vectorizer.vocabulary_  # in one title only: it can match nothing
    words.save(tmp_path)
    loaded = WordVectors.load(tmp_path)
    assert loaded is not None
    texts = [*TITLES, "Pura Nail Polish Pink", "Zyx Qwerty"]
    np.testing.assert_allclose(loaded.transform(texts).toarray(), words.transform(texts).toarray(), rtol=1e-6)
    assert loaded.transform(["Zyx Qwerty"]).nnz == 0
    assert WordVectors.load(tmp_path / "none") is None


def test_affinity_is_the_cosine_to_the_recency_weighted_word_profile() -> None:
    words = WordVectors.fit(TITLES)
    vectors = words.transform(TITLES)
    histories = [np.array([2, 0]), np.array([3]), np.array([], dtype=np.int64)]
    got = word_affinity(histories, vectors, 0.3)
    dense = vectors.toarray()
    for row, history in enumerate(histories):
        profile = (
            recency_weights(len(history), 0.3) @ dense[history] if len(history) else np.zeros(dense.shape[1])
        )
        profile = profile / max(np.linalg.norm(profile), 1e-12)
        np.testing.assert_allclose(got[row], dense @ profile, rtol=1e-5, atol=1e-6)
    assert got[0, 1] > 0 and got[0, 1] > got[0, 3]  # the brand and kind of the recent polish
    assert not got[2].any()  # no history: no affinity
    # the server's form: a shortlist's rows scored against the history's own
    shortlist = words.transform(["Pura Nail Polish Pink", TITLES[3]])
    served = word_affinity([np.array([0, 1])], vectors[[2, 0]], 0.3, shortlist)[0]
    expected = word_affinity([np.array([2, 0])], vectors, 0.3)[0, 3]
    assert served[1] == pytest.approx(expected, rel=1e-5)


def test_the_servers_word_cache_stays_bounded_and_scores_alike(monkeypatch: pytest.MonkeyPatch) -> None:
    from collections import OrderedDict

    from semrec.online import runtime

    words = WordVectors.fit(TITLES)
    server = object.__new__(runtime.ModelRuntime)  # only what the word term reads
    server.words, server._word_rows, server.text_decay = words, OrderedDict(), 0.5
    history, shown = TITLES[:2], TITLES[2:]
    unbounded = server.word_affinity(history, shown)
    assert len(server._word_rows) == len(TITLES)
    monkeypatch.setattr(runtime, "WORD_CACHE", 3)
    again = server.word_affinity(history, shown)
    assert list(server._word_rows) == TITLES[2:]  # the least recently used left
    np.testing.assert_allclose(again, unbounded, atol=1e-6)
    once_more = server.word_affinity(history, shown)
    np.testing.assert_allclose(once_more, unbounded, atol=1e-6)  # the evicted are found again
    vectors = words.transform(TITLES)
    expected = word_affinity([np.arange(2)], vectors, 0.5, vectors[2:])[0]
    np.testing.assert_allclose(unbounded, expected, atol=1e-6)
