"""Continual training from the store's events, behind the promotion gate (semrec retrain)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from semrec.artifacts import load_artifacts
from semrec.schema import Event, Item
from semrec.store import open_store
from semrec.training.continual import (
    RetrainSettings,
    ShopLog,
    start_ids_where_borrowed,
    text_vectors_of,
    with_catalog,
)
from semrec.training.retrain import retrain
from tests.shop_fixture import SHOP_ITEMS

JOURNEYS = [
    ["lip-1", "lip-2", "lip-3", "eye-2"],
    ["hair-1", "hair-2", "hair-3"],
    ["nail-1", "nail-2", "lip-1"],
    ["skin-1", "skin-2", "eye-1"],
]
NEW = Item("lip-4", "Berry Lip Stain", "Berry Lip Stain Glowa Makeup > Lips", "Makeup > Lips", "Glowa", 11.0)


def shop_store(path: Path, shoppers: int = 40) -> object:
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


def test_the_shop_log_orders_each_shoppers_events_and_holds_out_the_newest() -> None:
    rows = [
        (1, "a", "x", 5.0),
        (2, "b", "y", 1.0),
        (3, "a", "y", 2.0),
        (4, "a", "z", 9.0),
        (5, "b", "gone", 3.0),
    ]
    shop = ShopLog.read(rows, {"x": 0, "y": 1, "z": 2})
    assert shop.items["a"].tolist() == [1, 0, 2]  # by time, not by arrival
    assert shop.items["b"].tolist() == [1]  # a product the catalog lacks is left out
    assert shop.holdout_start(0, 0.25) == 4  # the newest quarter of events 1..4 by arrival
    assert [w.tolist() for w in shop.windows(0, 3, 50)] == [[1, 0]]  # y (event 3) then x (event 1)
    cases = shop.cases(3, 50)
    assert [h.tolist() for h in cases.histories] == [[1, 0]] and cases.targets[0].tolist() == [2]


def test_a_product_that_gains_events_keeps_its_vector_when_it_gets_an_id(
    shop_artifacts: dict[str, Path],
) -> None:
    model, item_ids, _ = load_artifacts(shop_artifacts["lmrec"])
    texts = text_vectors_of(model, [NEW])
    assert texts is not None
    text = np.vstack([model.text_vectors, texts]).astype(np.float32)
    live = with_catalog(model, np.concatenate([model.counts, [0.0]]), text)
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


def test_retrain_learns_the_new_events_and_gives_the_new_product_an_id(
    shop_artifacts: dict[str, Path], tmp_path: Path
) -> None:
    store = shop_store(tmp_path / "shop.db")
    out = tmp_path / "B"
    verdict = retrain(
        shop_artifacts["lmrec"], store, out, RetrainSettings(epochs=20, holdout=0.2, min_holdout=5)
    )
    model, item_ids, config = load_artifacts(out)
    assert item_ids[-1] == "lip-4" and model.counts[-1] > 0  # trained: it has an ID part now
    record = config["continual"]
    assert record["new_products"] == 1 and record["products_given_ids"] == 1
    assert record["events_through"] < record["store_last_event"]  # the newest were held out
    assert verdict.newest_cases >= 5 and verdict.reference_cases > 0
    # the journey that now ends with the lip stain: B gives it more of its probability than A did
    # (A scores it as a new product, from its text and its neighbours' ID parts)
    a, _, _ = load_artifacts(shop_artifacts["lmrec"])
    texts = text_vectors_of(a, [NEW])
    assert texts is not None
    live = with_catalog(a, np.concatenate([a.counts, [0.0]]), np.vstack([a.text_vectors, texts]))
    lips = [np.array([item_ids.index(i) for i in JOURNEYS[0]])]

    def share(m: object) -> float:
        logits = m.network_scores(lips)[0]  # type: ignore[attr-defined]
        p = np.exp(logits - logits.max())
        return float(p[-1] / p.sum())

    assert share(model) > 2 * share(live)
    assert verdict.newest["B_ndcg@10"] >= verdict.newest["A_ndcg@10"]
    assert verdict.promoted, verdict.reason


def test_the_gate_refuses_a_worse_candidate_and_nothing_is_reloaded(
    shop_artifacts: dict[str, Path], tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from semrec.cli import app

    database = tmp_path / "shop.db"
    shop_store(database).close()  # type: ignore[attr-defined]
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
