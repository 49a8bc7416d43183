"""One contract, every recommender: the same checks run against each model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from semrec.data import leave_one_out, load_dataset
from semrec.models import Recommender, TrainingData, create_model, model_names


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Recommender, TrainingData]]:
    from tests.conftest import TINY_EVENTS, TINY_ITEMS, write_dataset

    directory = write_dataset(tmp_path_factory.mktemp("contract") / "tiny", TINY_ITEMS, TINY_EVENTS)
    dataset = load_dataset(directory)
    data = TrainingData(sequences=leave_one_out(dataset).train, items=dataset.items)
    out = {}
    for name in model_names():
        params = {"batch_size": "4"} if name == "text-zeroshot" else None
        out[name] = (create_model(name, params).fit(data), data)
    return out


HISTORIES = [np.array([0, 1]), np.array([2]), np.array([], dtype=np.int64), np.array([3, 2, 3])]


@pytest.mark.parametrize("name", model_names())
def test_scores_have_one_row_per_history_and_one_column_per_item(
    name: str, fitted: dict[str, tuple[Recommender, TrainingData]]
) -> None:
    model, data = fitted[name]
    scores = model.score(HISTORIES)
    assert scores.shape == (len(HISTORIES), data.n_items) and scores.dtype == np.float32
    assert np.isfinite(scores).all()


@pytest.mark.parametrize("name", model_names())
def test_recommend_excludes_returns_unique_valid_items(
    name: str, fitted: dict[str, tuple[Recommender, TrainingData]]
) -> None:
    model, data = fitted[name]
    ranked = model.recommend(HISTORIES, k=3, exclude=HISTORIES)
    assert ranked.shape == (len(HISTORIES), 3)
    for row, history in zip(ranked, HISTORIES, strict=True):
        assert len(set(row.tolist())) == 3
        assert set(row.tolist()).isdisjoint(history.tolist())
        assert ((row >= 0) & (row < data.n_items)).all()


@pytest.mark.parametrize("name", model_names())
def test_batched_equals_one_by_one_and_is_deterministic(
    name: str, fitted: dict[str, tuple[Recommender, TrainingData]]
) -> None:
    model, _ = fitted[name]
    together = model.recommend(HISTORIES, k=4, exclude=HISTORIES)
    alone = np.vstack([model.recommend([h], k=4, exclude=[h]) for h in HISTORIES])
    assert (together == alone).all()
    assert (model.recommend(HISTORIES, k=4, exclude=HISTORIES) == together).all()


@pytest.mark.parametrize("name", model_names())
def test_settings_name_the_model_and_bad_k_is_refused(
    name: str, fitted: dict[str, tuple[Recommender, TrainingData]]
) -> None:
    model, _ = fitted[name]
    assert model.settings()["model"] == name
    with pytest.raises(ValueError, match="k must be"):
        model.recommend(HISTORIES, k=0)


def test_personal_models_follow_the_history(fitted: dict[str, tuple[Recommender, TrainingData]]) -> None:
    # items: a b c d e f -> 0..5; 'c' (Tea Tree Shampoo) goes with 'd' (Tea Tree Conditioner)
    for name in ("itemknn", "text-zeroshot"):
        model, _ = fitted[name]
        assert model.recommend([np.array([2])], k=1, exclude=[np.array([2])])[0, 0] == 3, name


def test_unknown_model_and_setting_name_the_options() -> None:
    with pytest.raises(ValueError, match=r"unknown model 'nope'; available models: \['popularity'"):
        create_model("nope")
    with pytest.raises(ValueError, match=r"has no setting 'foo'; its settings: \['decay'"):
        create_model("itemknn", {"foo": "1"})
    with pytest.raises(ValueError, match=r"takes a number \(float\)"):
        create_model("itemknn", {"decay": "high"})
    rules = r"cold_rule 'equal' is not allowed; choose one of \['likelihood', 'exposure'\]"
    with pytest.raises(ValueError, match=rules):
        create_model("lmrec", {"cold_rule": "equal"})
    assert create_model("lmrec", {"cold_rule": "exposure"}).settings()["cold_rule"] == "exposure"


def test_bad_encoder_path_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a local Hugging Face model folder"):
        from semrec.encoders.transformer import resolve_model_path

        resolve_model_path(tmp_path)


def test_itemknn_scores_a_candidate_list_exactly_as_the_full_row() -> None:
    rng = np.random.default_rng(3)
    items = pd.DataFrame({"item_id": [f"i{n}" for n in range(300)], "title": ["x"] * 300})
    sequences = [rng.integers(0, 300, rng.integers(2, 12)) for _ in range(400)]
    model = create_model("itemknn").fit(TrainingData(sequences=sequences, items=items))
    for history in (np.array([4]), np.array([7, 7, 120, 3]), rng.integers(0, 300, 40)):
        full = model.score([history])[0]
        candidates = np.concatenate([rng.choice(300, 60, replace=False), [5, 5, 299]])  # repeats too
        partial = model.score_items(history, candidates)  # type: ignore[attr-defined]
        assert np.allclose(partial, full[candidates], rtol=1e-5, atol=1e-7)
        assert (partial > 0).sum() > 0  # the histories do have neighbours among the candidates
    assert model.score_items(np.array([], dtype=np.int64), np.array([1, 2])).tolist() == [0, 0]  # type: ignore[attr-defined]
    history = np.array([7, 7, 120, 3])
    with_new = model.score_items(history, np.array([-1, 299, 5]))  # type: ignore[attr-defined]
    assert with_new[0] == 0 and np.allclose(with_new[1:], model.score([history])[0][[299, 5]], rtol=1e-5)
