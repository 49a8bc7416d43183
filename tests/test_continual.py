"""Continual training from the store's events, behind the promotion gate (semrec retrain)."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from semrec.artifacts import load_artifacts, load_catalog
from semrec.data.text import listed_words
from semrec.models.sequential import SequentialRecommender
from semrec.models.words import WordVectors, catalog_words
from semrec.pseudonyms import pseudonym, store_secret
from semrec.schema import Event, EventRow, Item
from semrec.store import open_store
from semrec.store.protocol import Store
from semrec.training.continual import (
    RetrainSettings,
    ShopLog,
    start_ids_where_borrowed,
    text_vectors_of,
    with_catalog,
)
from semrec.training.retrain import reference_cases, retrain
from tests.shop_fixture import SHOP_ITEMS

JOURNEYS = [
    ["lip-1", "lip-2", "lip-3", "eye-2"],
    ["hair-1", "hair-2", "hair-3"],
    ["nail-1", "nail-2", "lip-1"],
    ["skin-1", "skin-2", "eye-1"],
]
NEW = Item("lip-4", "Berry Lip Stain", "Berry Lip Stain Glowa Makeup > Lips", "Makeup > Lips", "Glowa", 11.0)


def shop_store(path: Path, shoppers: int = 40) -> Store:
    """A store holding the shop's products, a new lip stain, and journeys that now end with it."""
    store = open_store(path)
    store.seed_items(
        [
            Item(i, title, f"{title} {brand} {category}", category, brand)
            for i, title, brand, category, _ in SHOP_ITEMS
        ]
    )
    store.upsert_items([NEW])
    events = []
    for n in range(shoppers):
        journey = JOURNEYS[n % len(JOURNEYS)]
        tail = ["lip-4"] if journey[0] == "lip-1" else []
        for step, item in enumerate(journey + tail):
            events.append(Event(f"shopper-{n}", item, "click", 1_000.0 + 10 * n + step))
    store.add_events(events)
    return store


def sequential(path: Path) -> tuple[SequentialRecommender, list[str], dict[str, Any]]:
    model, item_ids, config = load_artifacts(path)
    assert isinstance(model, SequentialRecommender)
    return model, item_ids, config


def test_the_shop_log_orders_each_shoppers_events_and_holds_out_the_newest() -> None:
    rows = [
        EventRow(1, "a", "x", 5.0, None, None),
        EventRow(2, "b", "y", 1.0, None, None),
        EventRow(3, "a", "y", 2.0, None, None),
        EventRow(4, "a", "z", 9.0, None, None),
        EventRow(5, "b", "gone", 3.0, None, None),
        EventRow(6, "a", "x", 9.5, None, None),  # a repeat: no case, and not part of the held-out share
    ]
    shop = ShopLog.read(rows, {"x": 0, "y": 1, "z": 2})
    assert shop.items["a"].tolist() == [1, 0, 2, 0]  # by time, not by arrival
    assert shop.items["b"].tolist() == [1]  # a product the catalog lacks is left out
    assert shop.holdout_start(0, 0.5) == 4  # scorable: events 1 (after 3) and 4; the newest half
    assert [w.tolist() for w in shop.windows(0, 3, 50)] == [[1, 0]]  # y (event 3) then x (event 1)
    cases = shop.cases(3, 50)
    assert [h.tolist() for h in cases.histories] == [[1, 0]] and cases.targets[0].tolist() == [2]


def test_a_product_that_gains_events_keeps_its_vector_when_it_gets_an_id(
    shop_artifacts: dict[str, Path],
) -> None:
    model, item_ids, _ = sequential(shop_artifacts["lmrec"])
    texts = text_vectors_of(model, [NEW])
    assert texts is not None
    text = np.vstack([np.asarray(model.text_vectors), texts]).astype(np.float32)
    live = with_catalog(model, np.concatenate([model.counts, [0.0]]), text, [listed_words(NEW)])
    # the old items score exactly as before; the new one as the server scores a new product
    assert np.allclose(live.item_vectors()[: len(item_ids)], model.item_vectors(), atol=1e-6)
    counts = np.concatenate([model.counts, [3.0]])
    candidate = with_catalog(live, counts, text)
    before = candidate.item_vectors()[-1].copy()
    gained = start_ids_where_borrowed(live, candidate)
    assert gained.tolist() == [len(item_ids)]
    after = candidate.item_vectors()[-1]
    assert np.allclose(after, live.item_vectors()[-1], atol=1e-5)  # no jump when its ID arrives
    assert not np.allclose(before, after, atol=1e-3)  # (without the start, it would have jumped)


def test_the_copy_over_a_longer_catalog_keeps_the_title_word_term(shop_artifacts: dict[str, Path]) -> None:
    model, item_ids, _ = sequential(shop_artifacts["lmrec"])
    if model.words is None:  # validation may leave the term out of this tiny shop: give it one
        words = catalog_words(load_catalog(shop_artifacts["lmrec"]))
        model.words = WordVectors.fit(words, decay=0.7, lead=True)
        model.word_vectors, model.word_weight = model.words.transform(words), 2.0
    texts = text_vectors_of(model, [NEW])
    assert texts is not None and model.word_vectors is not None
    text = np.vstack([np.asarray(model.text_vectors), texts]).astype(np.float32)
    longer = np.concatenate([model.counts, [0.0]])
    live = with_catalog(model, longer, text, [listed_words(NEW)])
    assert live.words is model.words and live.word_weight == model.word_weight
    assert live.word_vectors is not None and live.word_vectors.shape[0] == len(item_ids) + 1
    # the new product's words, as the server reads them from its listing; the old rows unchanged
    expected = model.words.transform([listed_words(NEW)]).toarray()
    assert np.allclose(live.word_vectors[-1].toarray(), expected) and expected.any()
    assert np.allclose(live.word_vectors[:-1].toarray(), model.word_vectors.toarray())
    history = [np.array([item_ids.index("lip-1"), item_ids.index("lip-2")])]
    words_part = live.score_parts(history)["words"][0]
    assert np.allclose(words_part[:-1], model.score_parts(history)["words"][0], atol=1e-6)
    assert words_part[-1] > 0  # a lip product after two lip products shares words
    # the same catalog again (the candidate's copy of the live model) needs no words
    again = with_catalog(live, longer, text)
    assert again.word_vectors is not None and again.word_vectors.shape == live.word_vectors.shape
    with pytest.raises(ValueError, match="words of the 1 added items"):
        with_catalog(model, longer, text)


def test_a_model_loaded_with_an_adapted_encoder_saves_it_again(
    shop_artifacts: dict[str, Path], tmp_path: Path
) -> None:
    # a retrain copies a lora / full model that was loaded from artifacts: the adapted encoder that
    # embeds its new products must reach the new artifacts too
    model, _, _ = sequential(shop_artifacts["lmrec"])
    adapted = tmp_path / "adapted"
    adapted.mkdir()
    (adapted / "config.json").write_text('{"model_type": "bert"}')
    model.encoder_path = adapted  # type: ignore[attr-defined]
    (tmp_path / "out").mkdir()
    model.save_state(tmp_path / "out")
    assert (tmp_path / "out" / "encoder" / "config.json").read_text() == '{"model_type": "bert"}'


def test_retrain_learns_the_new_events_and_gives_the_new_product_an_id(
    shop_artifacts: dict[str, Path], tmp_path: Path
) -> None:
    store = shop_store(tmp_path / "shop.db")
    out = tmp_path / "B"
    verdict = retrain(
        shop_artifacts["lmrec"], store, out, RetrainSettings(epochs=20, holdout=0.2, min_holdout=5)
    )
    model, item_ids, config = sequential(out)
    assert item_ids[-1] == "lip-4" and model.counts[-1] > 0  # trained: it has an ID part now
    record = config["continual"]
    assert record["new_products"] == 1 and record["products_given_ids"] == 1
    assert record["events_through"] < record["store_last_event"]  # the newest were held out
    assert verdict.newest_cases >= 5 and verdict.reference_cases > 0
    # the journey that now ends with the lip stain: B gives it more of its probability than A did
    # (A scores it as a new product, from its text and its neighbours' ID parts)
    a, _, _ = sequential(shop_artifacts["lmrec"])
    texts = text_vectors_of(a, [NEW])
    assert texts is not None
    text = np.vstack([np.asarray(a.text_vectors), texts])
    live = with_catalog(a, np.concatenate([a.counts, [0.0]]), text, [listed_words(NEW)])
    lips = [np.array([item_ids.index(i) for i in JOURNEYS[0]])]

    def share(m: object) -> float:
        logits = m.network_scores(lips)[0]  # type: ignore[attr-defined]
        p = np.exp(logits - logits.max())
        return float(p[-1] / p.sum())

    assert share(model) > 2 * share(live)
    assert verdict.newest["B_ndcg@10"] >= verdict.newest["A_ndcg@10"]
    assert verdict.promoted, verdict.reason


def test_shoppers_erased_on_request_are_left_out_of_what_retraining_replays(
    shop_artifacts: dict[str, Path], tmp_path: Path
) -> None:
    store = shop_store(tmp_path / "shop.db")
    secret = store_secret(store)
    _, item_ids, config = sequential(shop_artifacts["lmrec"])
    before = reference_cases(config, item_ids, 1000, 0)
    store.delete_user(pseudonym(secret, "s0-0"))  # a shopper of the dataset the model came from
    gone = store.erased_users()
    after = reference_cases(config, item_ids, 1000, 0, lambda user_id: pseudonym(secret, user_id) in gone)
    assert len(after[0]) == len(before[0]) - 1  # no replay of their sequence
    assert len(after[1].users) == len(before[1].users) - 1  # nor a validation case


def test_retraining_refuses_artifacts_whose_split_cannot_be_rebuilt(shop_artifacts: dict[str, Path]) -> None:
    _, item_ids, config = sequential(shop_artifacts["lmrec"])
    assert len(reference_cases(config, item_ids, 1000, 0)[1].users) > 0
    provenance = {**config["provenance"], "protocol": "cold-items", "cold_fraction": 0.1}
    older = {**config, "provenance": provenance}  # cold-items before valid_cold_fraction was kept
    refusal = re.escape("trained under protocol cold-items (cold_fraction 0.1), not")
    with pytest.raises(ValueError, match=refusal):
        reference_cases(older, item_ids, 1000, 0)
    provenance["valid_cold_fraction"] = 0.1
    train, _ = reference_cases(older, item_ids, 1000, 0)  # the split it records: rebuilt
    assert len(train) == len(reference_cases(config, item_ids, 1000, 0)[0])


def test_the_gate_refuses_a_worse_candidate_and_nothing_is_reloaded(
    shop_artifacts: dict[str, Path], tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from semrec.cli import app

    database = tmp_path / "shop.db"
    shop_store(database).close()
    out = tmp_path / "B"
    # a learning rate 3,000 times the model's own wrecks the network: the gate must see it
    result = CliRunner().invoke(
        app,
        [
            "retrain",
            "--artifacts",
            str(shop_artifacts["lmrec"]),
            "--database",
            str(database),
            "--out",
            str(out),
            "--lr-scale",
            "3000",
            "--epochs",
            "20",
            "--holdout",
            "0.2",
        ],
    )
    assert result.exit_code == 3, result.output
    verdict = json.loads((out / "gate.json").read_text())
    assert not verdict["promoted"] and "below the live model" in verdict["reason"]
    assert open_store(database).last_reload() is None  # the live model keeps serving


def test_a_schedule_retrains_from_whatever_the_store_serves(
    shop_artifacts: dict[str, Path], tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from semrec.cli import app

    database = tmp_path / "shop.db"
    shop_store(database).close()
    out = tmp_path / "retrained"
    result = CliRunner().invoke(
        app,
        [
            "retrain",
            "--artifacts",
            str(shop_artifacts["lmrec"]),
            "--database",
            str(database),
            "--out",
            str(out),
            "--epochs",
            "20",
            "--holdout",
            "0.2",
            "--every",
            "1s",
            "--runs",
            "2",
        ],
    )
    assert result.exit_code == 0, result.output
    first, second = sorted(out.iterdir())
    assert json.loads((first / "gate.json").read_text())["promoted"]
    assert open_store(database).last_reload().key == str(first.resolve())  # type: ignore[union-attr]
    # the second run started from the promoted model: only the events it held out are new to it
    assert sequential(second)[2]["continual"]["parent"] == str(first.resolve())
    verdict = json.loads((second / "gate.json").read_text())
    assert not verdict["promoted"] and "held-out newest events can be scored" in verdict["reason"]


@pytest.mark.parametrize(
    ("option", "message"),
    [(["--holdout", "1.5"], "holdout must lie between 0 and 1"), (["--every", "soon"], "is not a period")],
)
def test_bad_options_are_refused_with_what_is_allowed(
    tmp_path: Path, option: list[str], message: str
) -> None:
    from typer.testing import CliRunner

    from semrec.cli import app

    result = CliRunner().invoke(app, ["retrain", "--database", str(tmp_path / "x.db"), *option])
    assert result.exit_code == 2 and message in result.output


def test_retraining_and_reloading_while_requests_and_events_flow(
    shop_artifacts: dict[str, Path], tmp_path: Path
) -> None:
    """The real server on its store; `semrec retrain` reads the store, passes the gate and logs a
    reload while two clients keep asking and sending events: no request fails, no event is lost."""
    import subprocess
    import sys
    import threading

    import httpx

    from tests.test_serving_e2e import Server, write_config

    config = write_config(shop_artifacts, tmp_path)
    database = tmp_path / "e2e.db"
    running = Server(config)
    running.start()
    writer = {"Authorization": "Bearer e2e-writer"}
    stop = threading.Event()
    try:
        client = httpx.Client(base_url=running.url, timeout=30)
        assert (
            client.put(
                "/v1/items/lip-4",
                json={"title": NEW.title, "brand": "Glowa", "category": "Makeup > Lips"},
                headers=writer,
            ).status_code
            == 200
        )
        journeys = []
        for n in range(40):
            journey = JOURNEYS[n % len(JOURNEYS)]
            tail = ["lip-4"] if journey[0] == "lip-1" else []
            journeys += [{"user_id": f"shopper-{n}", "item_id": i, "type": "click"} for i in journey + tail]
        assert client.post("/v1/events", json={"events": journeys}, headers=writer).json() == {
            "accepted": len(journeys)
        }
        version = client.get("/v1/users/shopper-0/recommendations?k=3", headers=writer).json()[
            "model_version"
        ]

        failures: list[str] = []
        acknowledged = [0, 0]

        def flow(number: int) -> None:
            # each client's shopper clicks one product again and again: events the gate cannot score
            # (a product already in the history), so they do not decide the promotion
            with httpx.Client(base_url=running.url, timeout=30) as own:
                while not stop.is_set():
                    event = {"user_id": f"flow-{number}", "item_id": "hair-1", "type": "click"}
                    sent = own.post("/v1/events", json={"events": [event]}, headers=writer)
                    if sent.status_code != 200:
                        failures.append(f"events {sent.status_code} {sent.text}")
                    else:
                        acknowledged[number] += 1
                    answer = own.get("/v1/users/shopper-0/recommendations?k=5", headers=writer)
                    if answer.status_code != 200:
                        failures.append(f"recommendations {answer.status_code} {answer.text}")

        threads = [threading.Thread(target=flow, args=(n,)) for n in range(2)]
        for thread in threads:
            thread.start()
        command = [
            sys.executable,
            "-m",
            "semrec.cli",
            "retrain",
            "--artifacts",
            str(shop_artifacts["lmrec"]),
            "--database",
            str(database),
            "--out",
            str(tmp_path / "B"),
            "--epochs",
            "20",
            "--holdout",
            "0.2",
        ]
        done = subprocess.run(command, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "promoted" in done.stdout
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # the server follows the store's reload
            now = client.get("/v1/users/shopper-0/recommendations?k=3", headers=writer).json()[
                "model_version"
            ]
            if now != version:
                break
            time.sleep(0.2)
        time.sleep(1.0)  # requests keep flowing on the new model
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
        assert now != version, "the server did not load the promoted model"
        assert not failures, failures[:5]
        assert sum(acknowledged) > 0
        store = open_store(database)
        assert store.count_events() == len(journeys) + sum(acknowledged)  # nothing acknowledged is lost
    finally:
        stop.set()
        running.stop()
