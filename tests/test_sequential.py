"""SASRec and lmrec: they learn, they save and load, and training never sees held-out targets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from semrec.artifacts import load_artifacts, save_artifacts
from semrec.cli import app
from semrec.data import leave_one_out, load_dataset
from semrec.evaluation.exposure_choice import ExposureChoice
from semrec.models import TrainingData, create_model, sequence_net
from semrec.models.blend import text_affinity
from semrec.models.sequence_net import ItemTable, SequenceNet
from semrec.training import trainer

ITEMS = pd.DataFrame(
    {
        "item_id": [f"i{i}" for i in range(8)],
        "title": [
            "rose lipstick",
            "rose gloss",
            "tea shampoo",
            "tea conditioner",
            "nail polish",
            "mascara",
            "soap",
            "brush",
        ],
    }
)
# three repeated journeys: after 0 comes 1, after 2 3 comes 4, after 0 1 6 comes 7
SEQUENCES = [np.array([0, 1, 2, 3]), np.array([2, 3, 4, 5]), np.array([5, 0, 1, 6, 7])] * 10
SMALL = {
    "epochs": "80",
    "dim": "16",
    "dropout": "0.0",
    "batch_size": "8",
    "eval_every": "1000",
    "lr": "0.005",
}


@pytest.mark.parametrize("name", ["sasrec", "lmrec"])
def test_training_overfits_a_tiny_fixture(name: str) -> None:
    model = create_model(name, SMALL).fit(TrainingData(SEQUENCES, ITEMS))
    history = model.training_summary()["history"]
    assert history[-1]["loss"] < 0.5 * history[0]["loss"]
    for history, expected in (([2, 3], 4), ([5, 0, 1, 6], 7), ([5, 0], 1)):
        seen = [np.array(history)]
        assert model.recommend(seen, k=1, exclude=seen)[0, 0] == expected


def test_lmrec_text_only_ranks_an_item_never_seen_in_training() -> None:
    # item 3 (tea conditioner) never occurs in training; its text is all the model has
    sequences = [np.array([2, 6, 7]), np.array([0, 1, 5])] * 10
    model = create_model("lmrec", {**SMALL, "hybrid": "false", "epochs": "5"}).fit(
        TrainingData(sequences, ITEMS)
    )
    scores = model.score([np.array([2])])[0]
    assert np.isfinite(scores[3])
    hybrid = create_model("lmrec", {**SMALL, "epochs": "5"}).fit(TrainingData(sequences, ITEMS))
    table = hybrid.net.items  # type: ignore[attr-defined]
    assert table.ids is not None and table.seen[1 + 3].item() == 0.0  # no ID part for the unseen item


@pytest.mark.parametrize("name", ["popularity", "itemknn", "text-zeroshot", "sasrec", "lmrec"])
def test_artifacts_round_trip(name: str, tmp_path: Path) -> None:
    params: dict[str, str] = (
        {"epochs": "2", "dim": "16", "eval_every": "1000"} if name in ("sasrec", "lmrec") else {}
    )
    model = create_model(name, params).fit(TrainingData(SEQUENCES, ITEMS))
    histories = [np.array([0, 1]), np.array([3]), np.array([], dtype=np.int64)]
    save_artifacts(model, list(ITEMS["item_id"]), tmp_path / "art", {"name": "fixture"})
    loaded, item_ids, config = load_artifacts(tmp_path / "art")
    assert item_ids == list(ITEMS["item_id"]) and config["model"] == name
    assert config["dataset"] == {"name": "fixture"}
    np.testing.assert_allclose(loaded.score(histories), model.score(histories), rtol=1e-5, atol=1e-6)
    assert loaded.settings() == model.settings()


def test_trainer_never_reads_validation_or_test_targets(
    tiny_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, Any] = {}
    real_loop = trainer.train_loop

    def spy(net: SequenceNet, sequences: list[np.ndarray], **kwargs: Any) -> trainer.TrainingLog:
        seen["sequences"] = [s.copy() for s in sequences]
        return real_loop(net, sequences, **kwargs)

    monkeypatch.setattr("semrec.training.fitting.train_loop", spy)
    dataset = load_dataset(tiny_dir)
    split = leave_one_out(dataset)
    calls: list[float] = []

    def validator(model: Any) -> float:
        calls.append(1.0)
        return 0.0

    data = TrainingData(split.train, dataset.items, validator=validator)
    create_model("sasrec", {"epochs": "3", "dim": "8", "eval_every": "1"}).fit(data)
    for user, sequence in enumerate(seen["sequences"]):
        assert sequence.tolist() == dataset.sequences[user][:-2].tolist()
    assert len(calls) >= 1  # validation happened, through the callback only


def test_training_resumes_from_its_checkpoint(tmp_path: Path) -> None:
    def run(epochs: int) -> trainer.TrainingLog:
        torch.manual_seed(0)
        net = SequenceNet(ItemTable(8, 8, None, use_ids=True), 8, 1, 1, 0.0, 10)
        return trainer.train_loop(
            net, SEQUENCES, epochs=epochs, batch_size=8, lr=1e-3, weight_decay=0.0, max_len=10, seed=0,
            device=torch.device("cpu"), checkpoint=tmp_path / "checkpoint.pt",
        )  # fmt: skip

    first = run(2)
    assert first.epochs == 2
    resumed = run(4)
    assert resumed.epochs == 4 and [h["epoch"] for h in resumed.history] == [1, 2, 3, 4]


def test_train_and_evaluate_artifacts_from_the_command_line(tiny_dir: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "model"
    args = ["train", "--data", str(tiny_dir), "--model", "lmrec", "--text-only", "--out", str(out)]
    result = runner.invoke(app, [*args, "--param", "epochs=2", "--param", "dim=8"])
    assert result.exit_code == 0, result.output
    assert {"config.json", "item_ids.json", "weights.pt", "item_vectors.npy", "text_vectors.npy"} <= {
        p.name for p in out.iterdir()
    }
    evaluated = runner.invoke(
        app, ["evaluate", "--data", str(tiny_dir), "--artifacts", str(out), "--out", str(tmp_path / "r.json")]
    )
    assert evaluated.exit_code == 0, evaluated.output
    both = runner.invoke(
        app, ["evaluate", "--data", str(tiny_dir), "--artifacts", str(out), "--model", "sasrec"]
    )
    assert both.exit_code == 2 and "one of them" in both.output
    bad = runner.invoke(
        app, ["train", "--data", str(tiny_dir), "--model", "lmrec", "--mode", "qlora", "--out", str(out)]
    )
    assert bad.exit_code == 2 and "choose one of ['frozen', 'lora', 'full']" in bad.output


@pytest.mark.parametrize("mode", ["lora", "full"])
def test_encoder_fine_tuning_pulls_next_items_together(mode: str) -> None:
    from semrec.encoders.transformer import TextEncoder
    from semrec.training.text_finetune import finetune_encoder, next_item_pairs

    texts = list(ITEMS["title"])
    sequences = [np.array([0, 7]), np.array([6, 2])] * 4  # lipstick -> brush, soap -> shampoo
    assert next_item_pairs(sequences).tolist() == [[0, 7], [6, 2]]
    encoder = TextEncoder(batch_size=8)
    before = encoder.encode(texts)
    frozen = {name: p.detach().clone() for name, p in encoder.model.named_parameters()}
    result = finetune_encoder(encoder, texts, sequences, mode, steps=30, lr=1e-3 if mode == "lora" else 1e-4)
    after = encoder.encode(texts)
    assert result["steps"] == 30 and result["last_loss"] < result["first_loss"]
    assert after[0] @ after[7] > before[0] @ before[7]
    assert after[6] @ after[2] > before[6] @ before[2]
    changed = [n for n, p in encoder.model.named_parameters() if not torch.equal(p, frozen[n])]
    if mode == "lora":  # merged low-rank updates touch only the attention query / value weights
        assert changed and all(("query" in n or "value" in n) for n in changed)
    else:
        assert any("intermediate" in n for n in changed)


def test_lmrec_with_lora_trains_on_the_adapted_encoders_vectors_and_keeps_it(tmp_path: Path) -> None:
    params = {**SMALL, "epochs": "2", "mode": "lora", "encoder_steps": "3", "text_components": "0"}
    model: Any = create_model("lmrec", params).fit(TrainingData(SEQUENCES, ITEMS))
    assert model.encoder_log["steps"] == 3 and model.adapted_encoder is not None
    # the network read the adapted encoder's vectors of the catalog, not the frozen one's
    adapted = model.adapted_encoder.encode(list(ITEMS["title"]))
    np.testing.assert_allclose(model.text_vectors, adapted, atol=1e-5)
    save_artifacts(model, list(ITEMS["item_id"]), tmp_path / "lora", {"name": "tiny"})
    assert (tmp_path / "lora" / "encoder" / "config.json").exists()  # new products: the same encoder
    loaded, _, _ = load_artifacts(tmp_path / "lora")
    assert loaded.encoder_reference() == str(tmp_path / "lora" / "encoder")  # type: ignore[attr-defined]


def test_positions_do_not_depend_on_padding() -> None:
    """An item keeps its position whatever comes after it, so a prefix looks the same in causal
    training as when it is a whole history at inference time."""
    torch.manual_seed(0)
    net = SequenceNet(ItemTable(8, 8, None, use_ids=True), 8, 1, 1, 0.0, 10).eval()
    table = net.items()
    short = torch.tensor([[3, 5, 2]])
    padded = torch.tensor([[0, 0, 0, 3, 5, 2]])
    longer = torch.tensor([[3, 5, 2, 7, 1]])
    with torch.no_grad():
        a = net.encode(short, table)[0, -1]
        b = net.encode(padded, table)[0, -1]
        c = net.encode(longer, table)[0, 2]  # causal: position 2 sees 3, 5, 2 only
    assert torch.allclose(a, b, atol=1e-5) and torch.allclose(a, c, atol=1e-5)


def test_items_absent_from_training_are_not_pushed_down_as_negatives() -> None:
    sequences = [np.array([0, 1, 2, 3]), np.array([2, 3, 4, 5])] * 5  # items 6 and 7 never occur
    model: Any = create_model("sasrec", {**SMALL, "epochs": "5", "weight_decay": "0.0"})
    model.build(np.ones(8), None)
    before = model.net.items.ids.weight.detach().clone()
    trainer.train_loop(
        model.net, sequences, epochs=5, batch_size=4, lr=0.01, weight_decay=0.0, max_len=10, seed=0,
        device=torch.device("cpu"),
    )  # fmt: skip
    after = model.net.items.ids.weight.detach()
    assert torch.equal(before[1 + 6], after[1 + 6]) and torch.equal(before[1 + 7], after[1 + 7])
    assert not torch.equal(before[1 + 0], after[1 + 0])


def test_id_dropout_hides_id_parts_only_while_training() -> None:
    text = torch.randn(5, 6)
    table = ItemTable(5, 4, text, use_ids=True, id_dropout=1.0)
    with torch.no_grad():
        table.ids.weight.fill_(1.0)  # type: ignore[union-attr]
        table.eval()
        with_ids = table()
        table.train()
        table.text_dropout.p = 0.0
        without = table()
    text_only = torch.cat([torch.zeros(1, 4), table.adapt(text)]).detach()
    assert torch.allclose(without, text_only, atol=1e-6)
    assert torch.allclose(with_ids[1:] - text_only[1:], torch.ones(5, 4), atol=1e-6)


def test_cooccurrence_weight_is_picked_on_validation() -> None:
    asked: list[float] = []

    def validator(model: Any) -> float:
        asked.append(model.prior_weight)
        return -abs(model.prior_weight - 0.5)  # validation likes 0.5 best

    data = TrainingData(SEQUENCES, ITEMS, validator=validator)
    model = create_model("lmrec", {**SMALL, "epochs": "2", "eval_every": "1000", "cooccurrence_weight": "-1"})
    model.fit(data)
    assert model.prior_weight == 0.5 and 0.0 in asked and 1.0 in asked  # type: ignore[attr-defined]
    assert model.training_summary()["cooccurrence_weight"] == 0.5
    histories = [np.array([0, 1]), np.array([2])]
    network_only = create_model("lmrec", {**SMALL, "epochs": "2", "cooccurrence_weight": "0"})
    assert network_only.fit(TrainingData(SEQUENCES, ITEMS)).prior is None  # type: ignore[attr-defined]
    assert np.isfinite(model.score(histories)).all()


def test_text_neighbours_are_the_closest_seen_items_never_the_item_itself() -> None:
    from semrec.models.blend import text_neighbours

    rng = np.random.default_rng(0)
    unit = rng.normal(size=(30, 8)).astype(np.float32)
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)
    seen = np.flatnonzero(np.arange(30) % 3 != 0)  # every third item was never bought
    donors = text_neighbours(unit, unit[seen], seen, 4, 0.1, own_items=np.arange(30))
    for item in range(30):
        others = [j for j in seen if j != item]
        closest = sorted(others, key=lambda j: -float(unit[item] @ unit[j]))[:4]
        assert donors.items[item].tolist() == closest  # closest first, never itself
        cosines = unit[closest] @ unit[item]
        expected = np.exp((cosines - cosines.max()) / 0.1)
        np.testing.assert_allclose(donors.weights[item], expected / expected.sum(), rtol=1e-5)
    assert set(donors.items.ravel().tolist()) <= set(seen.tolist())


def test_an_item_without_an_id_borrows_its_donors_id_part() -> None:
    text = torch.randn(6, 5)
    seen = torch.tensor([True, True, True, False, True, True])
    rows = torch.tensor([[1, 2]] * 6)
    weights = torch.tensor([[0.75, 0.25]] * 6)
    table = ItemTable(6, 4, text, use_ids=True, seen=seen, donors=(rows, weights), id_dropout=1.0)
    table.text_dropout.p = 0.0
    with torch.no_grad():
        ids = table.ids.weight[1:]  # type: ignore[union-attr]
        borrowed = 0.75 * ids[1] + 0.25 * ids[2]
        table.eval()
        vectors = table()[1:]
        adapted = table.adapt(text)
        assert torch.allclose(vectors[3], adapted[3] + borrowed, atol=1e-6)  # unseen: borrowed
        assert torch.allclose(vectors[0], adapted[0] + ids[0], atol=1e-6)  # seen: its own
        # a product added later, with item 3's text and donors, gets item 3's vector
        added = table.cold_vectors(text[3:4], (rows[3:4], weights[3:4]))
        assert torch.allclose(added[0], vectors[3], atol=1e-6)
        table.train()  # ID dropout (all hidden here) trains with borrowed parts, as new items are scored
        assert torch.allclose(table()[1:], adapted + borrowed, atol=1e-6)


def test_an_item_never_seen_in_training_borrows_its_donors_co_occurrence() -> None:
    from semrec.models.blend import PRIOR_FLOOR

    # item 3 (tea conditioner) never occurs in training; co-occurrence knows nothing of it
    sequences = [np.array([2, 6, 7]), np.array([0, 1, 5]), np.array([2, 4])] * 10
    params = {**SMALL, "epochs": "2", "cooccurrence_weight": "1", "text_weight": "0", "cold_neighbours": "3"}
    model: Any = create_model("lmrec", params).fit(TrainingData(sequences, ITEMS))
    assert model.donors is not None and 3 not in model.donor_items
    history = [np.array([2, 6])]
    raw = model.prior.score(history)[0]
    donors, weights = model.donors.items[3], model.donors.weights[3]
    assert 2 in donors.tolist()  # tea shampoo lends to tea conditioner
    expected = np.log(float(raw[donors] @ weights) + PRIOR_FLOOR)
    prior = model.score_parts(history)["prior"][0]
    assert prior[3] == pytest.approx(expected, rel=1e-5)
    assert prior[3] > np.log(PRIOR_FLOOR) + 0.1  # not the floor every unrelated item gets
    np.testing.assert_allclose(prior[[0, 1, 2, 4, 5, 6, 7]], np.log(raw[[0, 1, 2, 4, 5, 6, 7]] + PRIOR_FLOOR))


def test_a_hybrid_lmrec_with_its_prior_does_not_bury_an_item_never_seen_in_training() -> None:
    # item 3 (tea conditioner) never occurs in training: co-occurrence knows nothing of it
    sequences = [np.array([2, 6, 7]), np.array([0, 1, 5]), np.array([2, 4])] * 10
    model = create_model("lmrec", {**SMALL, "epochs": "5", "cooccurrence_weight": "2"})
    model.fit(TrainingData(sequences, ITEMS))
    history = [np.array([2])]
    with_prior = model.score(history)[0]
    model.prior_weight = 0.0  # type: ignore[attr-defined]
    network = model.score(history)[0]
    term = with_prior[3] - network[3]
    assert term > 2 * np.log(1e-3) + 0.1  # not the floor every unrelated item gets
    # bought-together items still gain: item 6 follows item 2 in training
    assert with_prior[6] - network[6] > term


def test_text_affinity_is_the_cosine_to_the_recency_weighted_profile() -> None:
    from semrec.models.blend import text_affinity

    rng = np.random.default_rng(1)
    unit = rng.normal(size=(6, 4)).astype(np.float32)
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)
    got = text_affinity([np.array([1, 4]), np.array([], dtype=np.int64)], unit, 0.5)
    profile = 0.5 * unit[1] + unit[4]  # the most recent item weighs 1, the one before 0.5
    expected = unit @ (profile / np.linalg.norm(profile))
    np.testing.assert_allclose(got[0], expected, rtol=1e-5, atol=1e-6)
    assert np.all(got[1] == 0.0)  # no history: no text taste


def test_blend_weights_are_chosen_on_validation_in_one_pass() -> None:
    asked: list[dict[str, float]] = []

    def blend_validator(parts: Any, blends: Any) -> list[float]:
        found = set(parts([np.array([0, 1])]))
        if found == {"words"}:  # the title-word term alone: its decay and lead token, no weights
            return [0.0 for _ in blends]
        # the title words join once their vocabulary is fitted, for the second choice
        assert found - {"words"} == {"network", "prior", "text"}
        asked.extend(blends)
        # validation likes co-occurrence 0.3 with text 5 and title words 2 best
        return [-abs(b["prior"] - 0.3) - abs(b["text"] - 5.0) - abs(b["words"] - 2.0) for b in blends]

    def validator(model: Any) -> float:
        return 0.0

    data = TrainingData(SEQUENCES, ITEMS, validator=validator, blend_validator=blend_validator)
    model: Any = create_model("lmrec", {**SMALL, "epochs": "2"}).fit(data)
    assert (model.prior_weight, model.text_weight, model.word_weight) == (0.3, 5.0, 2.0)
    # first co-occurrence with text, the title words left out; then text with the words
    assert {"prior": 0.0, "text": 0.0, "words": 0.0} in asked and {
        "prior": 2.0,
        "text": 15.0,
        "words": 0.0,
    } in asked
    assert {"prior": 0.3, "text": 1.0, "words": 15.0} in asked
    assert all(b["words"] == 0.0 or b["prior"] == 0.3 for b in asked)
    assert model.training_summary()["text_weight"] == 5.0 and model.training_summary()["word_weight"] == 2.0
    histories = [np.array([0, 1]), np.array([2])]
    parts = model.score_parts(histories)
    expected = parts["network"] + 0.3 * parts["prior"] + 5.0 * parts["text"] + 2.0 * parts["words"]
    np.testing.assert_allclose(model.score(histories), expected, rtol=1e-5, atol=1e-5)


def test_text_affinity_lifts_a_never_bought_item_whose_title_matches_the_history() -> None:
    # item 3 (tea conditioner) never occurs in training; the shopper just looked at tea shampoo (2)
    sequences = [np.array([2, 6, 7]), np.array([0, 1, 5]), np.array([2, 4])] * 10
    history = [np.array([2])]

    def rank_of_item_3(text_weight: str) -> int:
        params = {**SMALL, "epochs": "5", "cooccurrence_weight": "1", "text_weight": text_weight}
        model = create_model("lmrec", params).fit(TrainingData(sequences, ITEMS))
        ranked = model.recommend(history, k=7, exclude=history)[0]
        return int(np.flatnonzero(ranked == 3)[0])

    # bought-together items (4, 6, 7) lead on co-occurrence alone; a strong text term puts the
    # matching new product first, although nobody has bought it yet
    assert rank_of_item_3("0") > 0
    assert rank_of_item_3("30") == 0


def test_training_windows_make_every_next_item_a_target_once() -> None:
    windows = trainer.training_pairs([np.arange(12), np.arange(1), np.arange(2)], max_len=4)
    assert all(2 <= len(w) <= 5 for w in windows)
    targets = [int(t) for w in windows if w[0] < 100 and len(w) and w.max() >= 2 for t in w[1:]]
    assert sorted(targets) == list(range(1, 12))  # the 12-item history: items 1..11, once each
    assert [w.tolist() for w in windows if w.max() == 1] == [[0, 1]]  # the 1-item history gives none


def test_a_finished_training_is_not_continued_on_resume(tmp_path: Path) -> None:
    def run() -> trainer.TrainingLog:
        torch.manual_seed(0)
        net = SequenceNet(ItemTable(8, 8, None, use_ids=True), 8, 1, 1, 0.0, 10)
        return trainer.train_loop(
            net, SEQUENCES, epochs=3, batch_size=8, lr=1e-3, weight_decay=0.0, max_len=10, seed=0,
            device=torch.device("cpu"), checkpoint=tmp_path / "checkpoint.pt",
        )  # fmt: skip

    assert run().epochs == 3
    again = run()
    assert again.epochs == 3 and len(again.history) == 3


def test_an_ensemble_scores_the_mean_of_its_networks(tmp_path: Path) -> None:
    params = {**SMALL, "epochs": "30", "networks": "2", "cooccurrence_weight": "0", "text_weight": "0"}
    params["word_weight"] = "0"
    model: Any = create_model("lmrec", params).fit(TrainingData(SEQUENCES, ITEMS))
    first, second = model.members()
    assert len(model.training_summary()["networks"]) == 2
    histories = [np.array([2, 3]), np.array([5, 0, 1, 6]), np.array([5, 0])]
    batch = sequence_net.left_pad(histories, 4)
    with torch.inference_mode():
        each = [net(batch).numpy() for net in (first, second)]
    assert not np.allclose(each[0], each[1], atol=1e-3)  # two seeds, two networks
    np.testing.assert_allclose(model.score(histories), (each[0] + each[1]) / 2, rtol=1e-5, atol=1e-5)
    for history, expected in zip(histories, (4, 7, 1), strict=True):  # and it still learns the journeys
        assert model.recommend([history], k=1, exclude=[history])[0, 0] == expected
    # one vector index answers it: (concatenated queries / 2) @ concatenated item vectors
    vectors = model.item_vectors()
    assert vectors.shape == (8, 32)
    with torch.inference_mode():
        table = model.net.items()
        queries = model.net.encode(batch, table)[:, -1].numpy()
    np.testing.assert_allclose(queries @ vectors.T, (each[0] + each[1]) / 2, rtol=1e-4, atol=1e-4)
    save_artifacts(model, list(ITEMS["item_id"]), tmp_path / "art", {"name": "fixture"})
    loaded, _, _ = load_artifacts(tmp_path / "art")
    np.testing.assert_allclose(loaded.score(histories), model.score(histories), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="networks must be 1 or more"):
        create_model("lmrec", {**SMALL, "networks": "0"}).fit(TrainingData(SEQUENCES, ITEMS))


def test_prefix_examples_give_each_target_its_own_window() -> None:
    windows = trainer.prefix_windows([np.arange(6), np.arange(1)], max_len=3)
    assert [w.tolist() for w in windows] == [[0, 1], [0, 1, 2], [0, 1, 2, 3], [1, 2, 3, 4], [2, 3, 4, 5]]


def test_prefix_trained_sasrec_learns_the_journeys() -> None:
    params = {**SMALL, "epochs": "15", "prefixes": "true"}
    model: Any = create_model("sasrec", params).fit(TrainingData(SEQUENCES, ITEMS))
    journeys = [np.array([2, 3]), np.array([5, 0]), np.array([5, 0, 1])]
    for history, expected in zip(journeys, (4, 1, 6), strict=True):
        assert model.recommend([history], k=1, exclude=[history])[0, 0] == expected


def test_a_learned_text_metric_is_fitted_before_the_blend_and_kept_with_the_artifacts(tmp_path: Path) -> None:
    params = {**SMALL, "epochs": "2", "text_weight": "5", "text_metric_epochs": "3"}
    model: Any = create_model("lmrec", params).fit(TrainingData(SEQUENCES, ITEMS))
    dim = model.affinity.shape[1]
    assert model.text_metric is not None and model.text_metric.shape == (dim, dim)
    assert not np.allclose(model.text_metric, np.eye(dim))  # it learned something from the sequences
    histories = [np.array([0, 1]), np.array([2, 3])]
    parts = model.score_parts(histories)
    expected = text_affinity(histories, model.affinity, model.affinity_decay, model.text_metric)
    np.testing.assert_allclose(parts["text"], expected, rtol=1e-5, atol=1e-6)
    save_artifacts(model, list(ITEMS["item_id"]), tmp_path / "art", {"name": "fixture"})
    loaded: Any = load_artifacts(tmp_path / "art")[0]
    np.testing.assert_array_equal(loaded.text_metric, model.text_metric)
    np.testing.assert_allclose(loaded.score(histories), model.score(histories), rtol=1e-5, atol=1e-6)
    plain: Any = create_model("lmrec", {**params, "text_metric_epochs": "0"})
    plain.fit(TrainingData(SEQUENCES, ITEMS))
    assert plain.text_metric is None  # the default: the plain cosine


def test_new_products_get_blend_weights_of_their_own_chosen_on_validation(tmp_path: Path) -> None:
    balm = pd.DataFrame({"item_id": ["i8"], "title": ["rose lip balm"]})  # in no training sequence
    items = pd.concat([ITEMS, balm], ignore_index=True)
    asked: list[dict[str, float]] = []

    def blend_validator(parts: Any, blends: Any) -> list[float]:
        return [-abs(b["prior"] - 0.3) - abs(b["text"] - 5.0) for b in blends]

    def new_item_validator(parts: Any, blends: Any, cold: np.ndarray) -> tuple[list[float], int]:
        assert cold.tolist() == [False] * 8 + [True]
        asked.extend(blends)
        # among new products, validation likes more co-occurrence and text
        return [-abs(b["prior"] - 1.0) - abs(b["text"] - 15.0) for b in blends], 60

    def validator(model: Any) -> float:
        return 0.0

    data = TrainingData(
        SEQUENCES,
        items,
        validator=validator,
        blend_validator=blend_validator,
        new_item_blend_validator=new_item_validator,
    )
    settings = {**SMALL, "epochs": "2", "cold_weights": "true", "cold_rule": "likelihood"}
    model: Any = create_model("lmrec", settings).fit(data)
    assert (model.prior_weight, model.text_weight) == (0.3, 5.0)
    assert (model.cold_prior_weight, model.cold_text_weight) == (1.0, 15.0)
    assert model.word_weight == 0.0  # validation gained nothing by the title words: left out
    assert {"prior": 0.0, "text": 0.0, "words": 0.0} in asked and {
        "prior": 5.0,
        "text": 30.0,
        "words": 0.0,
    } in asked
    assert model.training_summary()["new_product_weights"]["text"] == 15.0
    histories = [np.array([0, 1]), np.array([2])]
    parts = model.score_parts(histories)
    expected = parts["network"] + 0.3 * parts["prior"] + 5.0 * parts["text"]
    expected[:, 8] = parts["network"][:, 8] + 1.0 * parts["prior"][:, 8] + 15.0 * parts["text"][:, 8]
    np.testing.assert_allclose(model.score(histories), expected, rtol=1e-5, atol=1e-5)
    save_artifacts(model, list(items["item_id"]), tmp_path / "art", {"name": "fixture"})
    loaded: Any = load_artifacts(tmp_path / "art")[0]
    assert (loaded.cold_prior_weight, loaded.cold_text_weight) == (1.0, 15.0)
    np.testing.assert_allclose(loaded.score(histories), model.score(histories), rtol=1e-5, atol=1e-6)

    asked.clear()
    same: Any = create_model("lmrec", {**SMALL, "epochs": "2", "cold_weights": "false"}).fit(data)
    assert asked == [] and same.cold_prior_weight is None and same.cold_text_weight is None
    parts = same.score_parts(histories)
    expected = parts["network"] + 0.3 * parts["prior"] + 5.0 * parts["text"]
    np.testing.assert_allclose(same.score(histories), expected, rtol=1e-5, atol=1e-5)


def test_under_equal_exposure_new_products_weights_are_judged_by_all_shoppers(tmp_path: Path) -> None:
    balm = pd.DataFrame({"item_id": ["i8"], "title": ["rose lip balm"]})  # in no training sequence
    items = pd.concat([ITEMS, balm], ignore_index=True)
    warm_seen: list[dict[str, float]] = []

    def blend_validator(parts: Any, blends: Any) -> list[float]:
        # the blend: co-occurrence 0.3, text 5, title words 2
        return [-abs(b["prior"] - 0.3) - abs(b["text"] - 5.0) - abs(b["words"] - 2.0) for b in blends]

    def exposure_validator(parts: Any, warm: Any, blends: Any, cold: np.ndarray) -> ExposureChoice:
        assert cold.tolist() == [False] * 8 + [True]
        warm_seen.append(dict(warm))
        # at their own offsets, all shoppers gain when new products weigh title words most
        ndcg = [0.1 - abs(b["prior"] - 0.0) - abs(b["text"] - 1.0) - abs(b["words"] - 10.0) for b in blends]
        return ExposureChoice(ndcg, [0.5] * len(blends), 60)

    def new_item_validator(parts: Any, blends: Any, cold: np.ndarray) -> tuple[list[float], int]:
        raise AssertionError("under exposure, new products are not judged among themselves")

    data = TrainingData(
        SEQUENCES,
        items,
        validator=lambda model: 0.0,
        blend_validator=blend_validator,
        new_item_blend_validator=new_item_validator,
        exposure_blend_validator=exposure_validator,
    )
    settings = {**SMALL, "epochs": "2", "cold_weights": "true", "cold_rule": "exposure", "word_weight": "2"}
    model: Any = create_model("lmrec", settings).fit(data)
    assert warm_seen == [{"prior": 0.3, "text": 5.0, "words": 2.0}]  # trained items keep the blend's
    assert (model.cold_prior_weight, model.cold_text_weight, model.cold_word_weight) == (0.0, 1.0, 10.0)
    assert model.cold_weights_validation["ndcg@10"] == pytest.approx(0.1)
    histories = [np.array([0, 1]), np.array([2])]
    parts = model.score_parts(histories)
    expected = parts["network"] + 0.3 * parts["prior"] + 5.0 * parts["text"] + 2.0 * parts["words"]
    expected[:, 8] = parts["network"][:, 8] + 1.0 * parts["text"][:, 8] + 10.0 * parts["words"][:, 8]
    expected[:, 8] += model.cold_offset
    np.testing.assert_allclose(model.score(histories), expected, rtol=1e-5, atol=1e-5)
    save_artifacts(model, list(items["item_id"]), tmp_path / "art", {"name": "fixture"})
    loaded: Any = load_artifacts(tmp_path / "art")[0]
    assert loaded.cold_word_weight == 10.0
    np.testing.assert_allclose(loaded.score(histories), model.score(histories), rtol=1e-5, atol=1e-6)
