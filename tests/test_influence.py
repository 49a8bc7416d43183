"""Influence caps: a burst of events from one shopper or one API key moves shared signals (the
popular list, what retraining learns) only so far; every event is still stored."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from semrec.api.app import create_app
from semrec.feedback.influence import Influence, InfluenceCaps
from semrec.schema import Event, EventRow
from semrec.settings import ServerSettings
from semrec.store import open_store
from semrec.training.continual import RetrainSettings
from semrec.training.retrain import retrain
from tests.test_continual import shop_store


def row(n: int, user: str, item: str, received: float = 0.0, source: str | None = "web") -> EventRow:
    return EventRow(n, user, item, ts=1.0, received=received, source=source)


def test_one_shopper_counts_for_one_product_at_most_shopper_item_times_per_window() -> None:
    influence = Influence(InfluenceCaps(shopper_item=3, window=60))
    clicks = [row(n, "bot", "target", received=n) for n in range(50)]
    assert sum(influence.counts(e) for e in clicks) == 3
    assert influence.refused == 47
    assert influence.counts(row(50, "bot", "other", received=50))  # another product still counts
    assert influence.counts(row(51, "bot", "target", received=61))  # a new window starts afresh


def test_one_shopper_counts_at_most_shopper_events_per_window() -> None:
    influence = Influence(InfluenceCaps(shopper=100, shopper_item=None, window=3600))
    burst = [row(n, "bot", f"item-{n}", received=10.0) for n in range(150)]
    assert [e.id for e in influence.admit(burst)] == list(range(100))
    assert influence.counts(row(200, "someone-else", "item-1", received=10.0))


def test_one_key_counts_for_one_product_at_most_key_item_times_unless_trusted() -> None:
    caps = InfluenceCaps(key_item=5, shopper_item=None, shopper=None, trusted_keys=["shop"])
    influence = Influence(caps)
    fakes = [row(n, f"fake-{n}", "target", source="leaked") for n in range(40)]
    assert sum(influence.counts(e) for e in fakes) == 5
    shop = [row(100 + n, f"real-{n}", "target", source="shop") for n in range(40)]
    assert sum(influence.counts(e) for e in shop) == 40  # the shop's own backend is not capped
    other = [row(200 + n, f"fake-{n}", "another", source="leaked") for n in range(3)]
    assert sum(influence.counts(e) for e in other) == 3  # per product


def test_the_clock_is_when_the_server_stored_the_event_not_the_events_own_time() -> None:
    influence = Influence(InfluenceCaps(shopper_item=1, window=60))
    # back-dated a day apart, stored within one minute: one window
    backdated = [EventRow(n, "bot", "target", 86_400.0 * n, 1_000.0 + n, "web") for n in range(10)]
    assert sum(influence.counts(e) for e in backdated) == 1
    # stored before the server kept the time: they all count, and move no window
    old = [EventRow(20 + n, "old", "target", 1e10 + n, None, None) for n in range(3)]
    assert all(influence.counts(e) for e in old)
    assert not influence.counts(EventRow(30, "bot", "target", 1.0, 1_010.0, "web"))  # same window


def test_switched_off_every_event_counts() -> None:
    influence = Influence(InfluenceCaps.off())
    assert all(influence.counts(row(n, "bot", "target", source="leaked")) for n in range(500))


def test_the_store_keeps_who_sent_each_event_and_when_it_was_stored(tmp_path: Path) -> None:
    store = open_store(tmp_path / "shop.db")
    store.add_events([Event("u", "a", "click", 5.0, source="shop"), Event("u", "b", "click", 6.0)])
    first, second = store.event_log()
    assert (first.item_id, first.ts, first.source) == ("a", 5.0, "shop")
    assert second.source is None and first.received is not None and first.received > 1e9
    store.close()


def test_a_database_from_before_gains_the_columns_and_keeps_its_events(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.execute(
        "CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, user_key TEXT NOT NULL, "
        "item_id TEXT NOT NULL, type TEXT NOT NULL, ts REAL NOT NULL, value REAL)"
    )
    db.execute("INSERT INTO events (user_key, item_id, type, ts) VALUES ('u', 'a', 'click', 7.0)")
    db.commit()
    db.close()
    store = open_store(path)
    assert store.event_log() == [EventRow(1, "u", "a", 7.0, None, None)]
    store.add_events([Event("u", "b", "click", 8.0, source="shop")])
    assert store.event_log()[-1].source == "shop"
    store.close()


KEYS = [
    {"name": "shop", "key": "shop-secret", "scopes": ["read", "write"]},
    {"name": "leaked", "key": "leaked-secret", "scopes": ["read", "write"]},
]


@pytest.fixture
def client(shop_artifacts: dict[str, Path], tmp_path: Path) -> TestClient:
    caps = InfluenceCaps(key_item=5, trusted_keys=["shop"])
    settings = ServerSettings(
        artifacts=shop_artifacts["lmrec"], database=tmp_path / "shop.db", api_keys=KEYS, influence=caps
    )
    return TestClient(create_app(settings), raise_server_exceptions=False)


def popular(client: TestClient) -> dict[str, float]:
    """The list a shopper without history gets: products and their counts."""
    response = client.get("/v1/users/stranger/recommendations?k=50", headers={"X-API-Key": "shop-secret"})
    assert response.status_code == 200, response.text
    assert response.json()["personalized"] is False
    return {item["item_id"]: item["score"] for item in response.json()["items"]}


def click(client: TestClient, key: str, users: list[str], item: str) -> None:
    events = [{"user_id": user, "item_id": item, "type": "click"} for user in users]
    response = client.post("/v1/events", json={"events": events}, headers={"X-API-Key": key})
    assert response.status_code == 200, response.text


def test_fake_shoppers_behind_a_leaked_key_lift_a_product_only_as_far_as_the_cap(
    client: TestClient,
) -> None:
    before = popular(client)
    target = min(before, key=lambda item: before[item])  # the least popular product listed
    click(client, "leaked-secret", [f"fake-{n}" for n in range(60)], target)
    after = popular(client)
    assert after[target] == before[target] + 5  # 60 fake shoppers, 5 counted
    assert max(after.values()) > after[target]
    click(client, "shop-secret", [f"real-{n}" for n in range(60)], target)
    assert popular(client)[target] == before[target] + 65  # the shop's own key is not capped
    assert "semrec_events_past_caps 55.0" in client.get("/metrics").text  # operators see it


def test_one_shopper_clicking_a_hundred_times_counts_three_times(client: TestClient) -> None:
    before = popular(client)
    target = min(before, key=lambda item: before[item])
    click(client, "shop-secret", ["bot"] * 100, target)
    assert popular(client)[target] == before[target] + 3
    # every event is stored all the same, and shapes the bot's own answers
    response = client.get("/v1/users/bot/recommendations", headers={"X-API-Key": "shop-secret"})
    assert response.json()["personalized"] is True


def test_retraining_learns_only_the_events_within_the_caps(
    shop_artifacts: dict[str, Path], tmp_path: Path
) -> None:
    def run(caps: InfluenceCaps, name: str) -> dict[str, int]:
        # a bot stored a burst of 300 clicks on the new product before the shop's journeys
        early = open_store(tmp_path / f"{name}.db")
        early.add_events([Event("bot", "lip-4", "click", 1_005.0 + n, source="web") for n in range(300)])
        early.close()
        store = shop_store(tmp_path / f"{name}.db")
        settings = RetrainSettings(epochs=1, holdout=0.2, min_holdout=5, influence=caps)
        retrain(shop_artifacts["lmrec"], store, tmp_path / name, settings)
        from semrec.artifacts import load_artifacts

        record = load_artifacts(tmp_path / name)[2]["continual"]
        store.close()
        return {"past_caps": record["events_past_caps"], "examples": record["new_examples"]}

    capped, uncapped = run(InfluenceCaps(), "capped"), run(InfluenceCaps.off(), "uncapped")
    assert capped["past_caps"] == 297 and uncapped["past_caps"] == 0
    assert uncapped["examples"] - capped["examples"] >= 250  # the burst's windows are gone


def test_retrain_reads_the_caps_the_servers_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from semrec.cli.continual import influence_caps

    monkeypatch.delenv("SEMREC_INFLUENCE", raising=False)
    assert influence_caps(None) == InfluenceCaps()
    config = tmp_path / "semrec.toml"
    config.write_text('artifacts = "A"\n[influence]\nkey_item = 20\ntrusted_keys = ["shop"]\n')
    assert influence_caps(config) == InfluenceCaps(key_item=20, trusted_keys=["shop"])
    monkeypatch.setenv("SEMREC_INFLUENCE", '{"shopper": 5}')  # the environment outranks the file
    assert influence_caps(config) == InfluenceCaps(shopper=5)
    monkeypatch.delenv("SEMREC_INFLUENCE")
    config.write_text("influence = 3\n")
    with pytest.raises(ValueError, match="influence must be a table"):
        influence_caps(config)
    config.write_text("[influence]\nshopper = -1\n")
    with pytest.raises(ValueError, match="influence caps"):
        influence_caps(config)


def test_no_api_key_may_be_named_anonymous() -> None:
    from pydantic import ValidationError

    from semrec.settings import ApiKey

    with pytest.raises(ValidationError, match="names callers without a key"):
        ApiKey(name="anonymous", key="k", scopes=["write"])
