"""The ranking stage: its order in recommend, its candidates and features, saving it with the
artifacts, and its calibration (Platt scaling and the calibration report)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from semrec.artifacts import load_artifacts, read_config
from semrec.data.loader import load_dataset
from semrec.evaluation.runner import RunSpec, run_training
from semrec.models.calibration import calibration, platt_fit
from semrec.models.ranker import FEATURES, Candidates, Ranker, candidates
from semrec.models.sequential import SequentialRecommender
from tests.conftest import synthetic_ranker, write_dataset


def test_platt_scaling_recovers_the_logistic_that_made_the_labels() -> None:
    rng = np.random.default_rng(0)
    scores = rng.normal(size=200_000)
    labels = (rng.random(len(scores)) < 1 / (1 + np.exp(-(2.0 * scores - 3.0)))).astype(float)
    a, b = platt_fit(scores, labels)
    assert abs(a - 2.0) < 0.05 and abs(b + 3.0) < 0.05


def test_calibration_tells_calibrated_from_overconfident_probabilities() -> None:
    rng = np.random.default_rng(1)
    p = rng.uniform(0.0, 0.2, size=100_000)
    labels = (rng.random(len(p)) < p).astype(float)
    honest, doubled = calibration(p, labels), calibration(np.minimum(2 * p, 1.0), labels)
    assert honest["ece"] < 0.005 < doubled["ece"]
    assert honest["log_loss"] < doubled["log_loss"]
    assert sum(point["pairs"] for point in honest["reliability"]) == len(p)


class ByRank:
    """A booster stand-in whose score is the candidate's retrieval rank: it reverses retrieval's
    order, so any answer that follows the ranker is told apart from retrieval's."""

    def predict(self, rows: np.ndarray, num_threads: int = 1) -> np.ndarray:
        return rows[:, FEATURES.index("rank")].astype(np.float64)


def test_recommend_answers_the_rankers_order_of_retrievals_candidates(
    shop_artifacts: dict[str, Path],
) -> None:
    model, _, _ = load_artifacts(shop_artifacts["lmrec"])
    assert isinstance(model, SequentialRecommender)
    histories = [np.array([0, 1, 2]), np.array([5]), np.zeros(0, dtype=np.int64), np.array([3, 7])]
    retrieval = model.recommend(histories, k=8, exclude=histories)
    model.ranker = Ranker(ByRank(), n_candidates=5)
    ranked = model.recommend(histories, k=8, exclude=histories)
    for row, history in enumerate(histories):
        if not len(history):  # no history: the popularity order, with or without a ranker
            assert ranked[row].tolist() == retrieval[row].tolist()
            continue
        # the ranker's five, reversed, then the rest of retrieval's list in its order
        assert ranked[row].tolist() == retrieval[row][:5][::-1].tolist() + retrieval[row][5:].tolist()
        assert not set(ranked[row].tolist()) & set(history.tolist())


def test_never_items_are_no_candidates_and_features_follow_retrieval_order(
    shop_artifacts: dict[str, Path],
) -> None:
    model, _, _ = load_artifacts(shop_artifacts["lmrec"])
    assert isinstance(model, SequentialRecommender)
    histories = [np.array([0, 1, 2]), np.array([5])]
    shortlist = candidates(model, histories, 6, histories)
    assert shortlist.items.tolist() == model.recommend(histories, k=6, exclude=histories).tolist()
    never = shortlist.items[:, 0]
    fewer = candidates(model, histories, 6, histories, never=never)
    assert not np.isin(fewer.items, never).any()
    column = {name: i for i, name in enumerate(FEATURES)}
    blended = shortlist.features[:, :, column["blend"]]
    assert (np.diff(blended, axis=1) <= 0).all()  # best first
    assert (shortlist.features[:, :, column["gap_to_top"]] <= 0).all()
    assert shortlist.features[:, :, column["history_length"]].tolist() == [[3] * 6, [1] * 6]
    last = model.affinity[shortlist.items[1]] @ model.affinity[5]  # type: ignore[index]
    assert np.allclose(shortlist.features[1, :, column["cos_last"]], last, atol=1e-6)
    assert (shortlist.features[1, :, column["cos_second"]] == 0).all()  # one history item only


def test_fresh_candidates_are_the_best_new_products_retrieval_left_out(
    shop_artifacts: dict[str, Path],
) -> None:
    model, _, _ = load_artifacts(shop_artifacts["lmrec"])
    assert isinstance(model, SequentialRecommender)
    model.counts = model.counts.copy()
    model.counts[6:] = 0  # half the shop's products new
    histories = [np.array([0, 1, 2]), np.array([5])]
    plain = candidates(model, histories, 3, histories)
    widened = candidates(model, histories, 3, histories, fresh=2)
    assert widened.items.shape == (2, 5)
    assert widened.items[:, :3].tolist() == plain.items.tolist()
    longer = candidates(model, histories, 12, histories)  # retrieval's whole order
    for row, history in enumerate(histories):
        extra = widened.items[row, 3:].tolist()
        assert all(item >= 6 for item in extra) and not set(extra) & set(plain.items[row].tolist())
        # retrieval's first new products past its shortlist, in its order
        later = [i for i in longer.items[row].tolist() if i >= 6 and i not in plain.items[row].tolist()]
        assert extra == later[:2] and not set(extra) & set(history.tolist())
    column = FEATURES.index("new")
    assert (widened.features[:, 3:, column] == 1).all()
    # the ranker re-scores all five: retrieval's three and the fresh two, here reversed
    model.ranker = Ranker(ByRank(), n_candidates=3, fresh=2)
    ranked = model.recommend(histories, k=8, exclude=histories)
    for row in range(2):
        assert ranked[row, :5].tolist() == widened.items[row][::-1].tolist()
        assert len(set(ranked[row].tolist())) == len(ranked[row])


def test_a_saved_ranker_loads_with_the_same_scores_and_refuses_other_features(tmp_path: Path) -> None:
    import lightgbm

    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, len(FEATURES))).astype(np.float32)
    y = (x[:, 0] + x[:, 8] > 0.5).astype(np.float32)
    booster = lightgbm.train(
        {"objective": "lambdarank", "min_data_in_leaf": 5, "verbosity": -1},
        lightgbm.Dataset(x, y, group=[20] * 20),
        num_boost_round=10,
    )
    ranker = Ranker(booster, 20, (1.5, -2.0), fresh=5, cold_shift=0.75)
    ranker.save(tmp_path / "ranker")
    loaded = Ranker.load(tmp_path / "ranker")
    assert loaded.n_candidates == 20 and loaded.platt == (1.5, -2.0) and loaded.fresh == 5
    assert loaded.cold_shift == 0.75
    assert np.allclose(loaded.probabilities(x[None]), ranker.probabilities(x[None]))
    assert np.allclose(loaded.order_scores(x[None]), ranker.order_scores(x[None]))
    assert np.unique(loaded.scores(x[None])).size > 1  # a tree that splits
    meta = json.loads((tmp_path / "ranker" / "ranker.json").read_text())
    assert meta["features"] == list(FEATURES)
    (tmp_path / "ranker" / "ranker.json").write_text(json.dumps({**meta, "features": [*FEATURES[:-1], "x"]}))
    with pytest.raises(ValueError, match=r"does not compute: \['x'\]"):
        Ranker.load(tmp_path / "ranker")


def test_a_ranker_saved_before_the_word_features_reads_its_own_columns(tmp_path: Path) -> None:
    import lightgbm

    older = [name for name in FEATURES if not name.startswith("words")]
    rng = np.random.default_rng(1)
    x = rng.normal(size=(400, len(FEATURES))).astype(np.float32)
    columns = [FEATURES.index(name) for name in older]
    y = (x[:, 0] + x[:, 8] > 0.5).astype(np.float32)
    booster = lightgbm.train(
        {"objective": "lambdarank", "min_data_in_leaf": 5, "verbosity": -1},
        lightgbm.Dataset(x[:, columns], y, group=[20] * 20),
        num_boost_round=10,
    )
    Ranker(booster, 20, reads=tuple(older)).save(tmp_path / "ranker")
    loaded = Ranker.load(tmp_path / "ranker")
    assert loaded.reads == tuple(older)
    expected = booster.predict(x[:, columns])
    assert np.unique(expected).size > 1
    np.testing.assert_allclose(loaded.scores(x[None])[0], expected)  # full rows in, its columns read


def _walks(directory: Path) -> Path:
    """40 products on a ring and 120 shoppers who each walk 8 steps along it from a random start:
    every next item is new to its shopper, so validation teaches a ranker something."""
    rng = np.random.default_rng(0)
    kinds = ["Lipstick", "Shampoo", "Serum", "Nail Polish", "Mascara"]
    items = [(f"p{i}", f"{kinds[i % 5]} shade {i // 5}") for i in range(40)]
    events = [
        (f"u{u}", f"p{(start + step) % 40}", str(100 + step))
        for u, start in enumerate(rng.integers(0, 40, size=120))
        for step in range(8)
    ]
    return write_dataset(directory, items, events)


def test_training_with_the_ranker_saves_it_in_the_artifacts(tmp_path: Path) -> None:
    data = _walks(tmp_path / "walks")
    small = {"epochs": "15", "dim": "16", "eval_every": "1000", "dropout": "0.0", "batch_size": "16"}
    out = tmp_path / "ranked"
    document = run_training(RunSpec(data=data, model="lmrec", params={**small, "ranker": "10"}), out)
    assert (out / "ranker" / "ranker.txt").exists()
    config = read_config(out)
    assert config["settings"]["ranker"] == "10"
    info = config["training"]["ranker"]
    assert info["fit_cases"] > 0 and info["seconds"] >= 0
    model, _, _ = load_artifacts(out)
    assert isinstance(model, SequentialRecommender) and model.ranker is not None
    assert model.ranker.n_candidates == 10
    # the saved validation figures are retrieval's: the ranker learned from those shoppers
    assert document["metrics"] == {k: v for k, v in config["metrics"].items() if k != "split"}
    with pytest.raises(ValueError, match="at least 10"):
        run_training(RunSpec(data=data, model="lmrec", params={**small, "ranker": "5"}), tmp_path / "x")


def test_batch_lists_follow_the_ranker_and_carry_its_probabilities(
    shop_artifacts: dict[str, Path], tmp_path: Path
) -> None:
    from semrec.batch import batch_lists

    artifacts = tmp_path / "ranked"
    shutil.copytree(shop_artifacts["lmrec"], artifacts)
    synthetic_ranker(6).save(artifacts / "ranker")
    model, item_ids, _ = load_artifacts(artifacts)
    assert isinstance(model, SequentialRecommender) and model.ranker is not None
    dataset = load_dataset(shop_artifacts["data"])
    users = [str(u) for u in dataset.user_ids[:5]] + ["nobody"]
    lines, _ = batch_lists(artifacts, shop_artifacts["data"], users, k=8)
    for line, user in zip(lines, users, strict=True):
        row = list(dataset.user_ids.astype(str)).index(user) if user != "nobody" else None
        history = dataset.sequences[row] if row is not None else np.zeros(0, dtype=np.int64)
        expected = model.recommend([history], k=8, exclude=[history])[0]
        assert line["items"] == [item_ids[i] for i in expected if i >= 0]
        if row is None:  # the popularity order, with retrieval's scores
            assert all(s is not None for s in line["scores"])
            continue
        shortlist = candidates(model, [history], 8, [history])
        chances = model.ranker.probabilities(shortlist.features[:, :6])[0]
        p = dict(zip(shortlist.items[0][:6].tolist(), chances, strict=True))
        assert line["scores"][:6] == [round(float(p[item_ids.index(i)]), 6) for i in line["items"][:6]]
        assert line["scores"][6:] == [None] * (len(line["items"]) - 6)  # past the re-scored candidates


def test_word_features_are_the_title_word_cosines_to_the_shoppers_last_items(
    shop_artifacts: dict[str, Path],
) -> None:
    from semrec.models.words import WordVectors, catalog_words, word_affinity

    model, _, _ = load_artifacts(shop_artifacts["lmrec"])
    assert isinstance(model, SequentialRecommender)
    texts = catalog_words(load_dataset(shop_artifacts["data"]).items)
    model.words = WordVectors.fit(texts)
    model.word_vectors = model.words.transform(texts)
    model.word_weight = 1.0
    histories = [np.array([0, 1, 2]), np.array([5])]
    shortlist = candidates(model, histories, 6, histories)
    column = {name: i for i, name in enumerate(FEATURES)}
    vectors = model.word_vectors
    for row, history in enumerate(histories):
        items = shortlist.items[row]
        cos = (vectors[items] @ vectors[history[::-1]].T).toarray()
        features = shortlist.features[row]
        np.testing.assert_allclose(features[:, column["words_last"]], cos[:, 0], atol=1e-6)
        np.testing.assert_allclose(features[:, column["words_max10"]], cos.max(axis=1), atol=1e-6)
        affinity = word_affinity([history], vectors, model.affinity_decay, vectors[items])[0]
        np.testing.assert_allclose(shortlist.features[row, :, column["words"]], affinity, atol=1e-6)
    model.words = model.word_vectors = None  # the term left out: the features stay 0
    plain = candidates(model, histories, 6, histories)
    assert (plain.features[:, :, [column["words"], column["words_max10"]]] == 0).all()


def test_the_cold_shift_raises_new_products_log_odds_where_the_list_is_ordered() -> None:
    x = np.zeros((1, 4, len(FEATURES)), dtype=np.float32)
    x[0, :, FEATURES.index("rank")] = [3, 2, 1, 0]  # ByRank: the first candidate scores highest
    x[0, 1, FEATURES.index("new")] = 1.0
    ranker = Ranker(ByRank(), n_candidates=4, platt=(1.0, 0.0))
    shortlist = Candidates(np.array([[10, 11, 12, 13]]), x)
    assert ranker.rerank(shortlist, 4).tolist() == [[10, 11, 12, 13]]
    ranker.cold_shift = 1.5  # the new product (2 in log-odds) now passes the first (3)
    assert ranker.rerank(shortlist, 4).tolist() == [[11, 10, 12, 13]]
    odds = np.log(ranker.order_scores(x)[0] / (1 - ranker.order_scores(x)[0]))
    np.testing.assert_allclose(odds, [3.0, 3.5, 1.0, 0.0], rtol=1e-6)
    np.testing.assert_allclose(ranker.probabilities(x)[0], 1 / (1 + np.exp(-np.array([3, 2, 1, 0.0]))))
    # what an ad's pCTR reads: the calibrated probability again
    new = x[0, :, FEATURES.index("new")] > 0
    np.testing.assert_allclose(ranker.unshifted(ranker.order_scores(x)[0], new), ranker.probabilities(x)[0])


def test_the_cold_shift_gives_new_products_the_asked_share_of_the_top_slots() -> None:
    from semrec.training.ranker_fit import fit_cold_shift

    rng = np.random.default_rng(0)
    groups = rng.integers(15, 40, size=300)
    odds = rng.normal(size=int(groups.sum()))
    new = rng.random(len(odds)) < 0.3
    odds[new] -= 2.0  # new products rank low until shifted
    starts = np.r_[0, np.cumsum(groups)[:-1]]

    def share(shift: float) -> float:
        shifted = odds + shift * new
        held = [
            new[s : s + g][np.argsort(-shifted[s : s + g])[:10]].mean()
            for s, g in zip(starts, groups, strict=True)
        ]
        return float(np.mean(held))

    assert share(0.0) < 0.1
    for asked in (0.1, 0.25):
        shift = fit_cold_shift(odds, new, groups, asked)
        assert shift > 0
        assert abs(share(shift) - asked) < 1 / (10 * len(groups)) + 1e-9
