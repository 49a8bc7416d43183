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
    from semrec.online import word_cache

    words = WordVectors.fit(TITLES, decay=0.5)
    server = word_cache.ServedWords(words)  # the term's own decay, not the text affinity's
    history, shown = TITLES[:2], TITLES[2:]
    unbounded = server.affinity(history, shown)
    assert len(server) == len(TITLES)
    monkeypatch.setattr(word_cache, "WORD_CACHE", 3)
    again = server.affinity(history, shown)
    assert server.cached() == TITLES[2:]  # the least recently used left
    np.testing.assert_allclose(again, unbounded, atol=1e-6)
    once_more = server.affinity(history, shown)
    np.testing.assert_allclose(once_more, unbounded, atol=1e-6)  # the evicted are found again
    vectors = words.transform(TITLES)
    expected = word_affinity([np.arange(2)], vectors, 0.5, vectors[2:])[0]
    np.testing.assert_allclose(unbounded, expected, atol=1e-6)


def test_a_titles_first_word_counts_once_more_with_lead() -> None:
    plain, lead = WordVectors.fit(TITLES), WordVectors.fit(TITLES, lead=True)
    assert "lead:pura" in lead.vectorizer.vocabulary_ and "lead:pura" not in plain.vectorizer.vocabulary_
    first, later = lead.transform(["Pura Nail Polish", "Nail Polish Pura"])
    column = lead.vectorizer.vocabulary_["lead:pura"]
    assert first[0, column] > 0 and later[0, column] == 0  # "pura" leads one title only
    # without lead the words are scikit-learn's own: the vectors of artifacts saved before it
    import scipy.sparse as sp
    from sklearn.feature_extraction.text import TfidfVectorizer

    reference = TfidfVectorizer(sublinear_tf=True, min_df=2, dtype=np.float32).fit(TITLES)
    np.testing.assert_allclose(
        plain.transform(TITLES).toarray(), sp.csr_matrix(reference.transform(TITLES)).toarray(), rtol=1e-6
    )


def test_decay_and_lead_are_kept_and_older_files_load_as_they_scored(tmp_path: Path) -> None:
    import json

    words = WordVectors.fit(TITLES, decay=0.7, lead=True)
    words.save(tmp_path)
    loaded = WordVectors.load(tmp_path)
    assert loaded is not None and (loaded.decay, loaded.lead) == (0.7, True)
    np.testing.assert_allclose(
        loaded.transform(TITLES).toarray(), words.transform(TITLES).toarray(), rtol=1e-6
    )
    WordVectors.fit(TITLES).save(tmp_path)
    state = json.loads((tmp_path / "words.json").read_text())
    (tmp_path / "words.json").write_text(json.dumps({"words": state["words"], "idf": state["idf"]}))
    old = WordVectors.load(tmp_path)  # written before decay and lead were kept
    assert old is not None and (old.decay, old.lead) == (0.3, False)
    with pytest.raises(ValueError, match="word decay"):
        WordVectors.fit(TITLES, decay=1.5)


def test_decay_and_lead_are_the_ones_validation_ranks_best() -> None:
    from types import SimpleNamespace
    from typing import Any

    from semrec.models.base import TrainingData
    from semrec.training.fitting import WORD_DECAYS, choose_words

    items = pd.DataFrame({"item_id": [f"i{n}" for n in range(len(TITLES))], "title": TITLES})
    histories = [np.array([0, 2]), np.array([1, 3, 0]), np.array([3])]
    wanted = word_affinity(histories, WordVectors.fit(TITLES, lead=True).transform(TITLES), 0.7)
    seen: list[Any] = []

    def validator(parts: Any, blends: Any) -> list[float]:  # best where the term is `wanted`
        seen.append(blends)
        return [-float(np.abs(parts(histories)["words"] - wanted).sum())]

    model: Any = SimpleNamespace(config=SimpleNamespace(word_decay=-1.0, word_lead=-1))
    data = TrainingData(sequences=[], items=items, blend_validator=validator)
    words, vectors = choose_words(model, data)
    assert (words.lead, words.decay) == (True, 0.7)
    assert len(seen) == 2 * len(WORD_DECAYS) and all(
        b == [{"prior": 0.0, "text": 0.0, "words": 1.0}] for b in seen
    )
    assert model.word_validation["lead=1,decay=0.7"] == 0.0
    np.testing.assert_allclose(vectors.toarray(), words.transform(TITLES).toarray(), rtol=1e-6)
    model.config = SimpleNamespace(word_decay=0.9, word_lead=0)  # given: nothing is chosen
    words, _ = choose_words(model, data)
    assert (words.lead, words.decay, model.word_validation) == (False, 0.9, None)
    bare: Any = SimpleNamespace(config=SimpleNamespace(word_decay=-1.0, word_lead=-1))
    words, _ = choose_words(bare, TrainingData([], items))
    assert (words.lead, words.decay) == (True, 0.5)  # no validation split: the defaults
