"""Sponsored placements over HTTP: campaigns, a shopper's ads and sponsored slots in recommendations,
clicks charged through events, the report and /metrics; and, on the real server with two worker
processes, parallel requests that never overspend a small budget."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from semrec.api.app import create_app
from semrec.settings import ServerSettings
from tests.conftest import synthetic_ranker
from tests.test_serving_e2e import Server, workers_up, write_config

KEYS = [
    {"name": "writer", "key": "w-secret", "scopes": ["read", "write"]},
    {"name": "ops", "key": "a-secret", "scopes": ["read", "write", "admin"]},
]
ADMIN = {"X-API-Key": "a-secret"}
WRITER = {"X-API-Key": "w-secret"}
HISTORY = ["lip-1", "lip-2", "eye-2"]
UNSEEN = ["lip-3", "eye-1", "hair-1", "hair-2", "hair-3", "nail-1", "nail-2", "skin-1", "skin-2"]

Factory = Callable[..., TestClient]


@pytest.fixture(scope="module")
def ranked(shop_artifacts: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shop's lmrec with a ranking stage over 10 candidates (all a shopper of 3 items has)."""
    out = tmp_path_factory.mktemp("ranked") / "lmrec"
    shutil.copytree(shop_artifacts["lmrec"], out)
    shutil.rmtree(out / "ranker", ignore_errors=True)
    synthetic_ranker(10).save(out / "ranker")
    return out


@pytest.fixture
def client_for(ranked: Path, tmp_path: Path) -> Factory:
    def make(artifacts: Path | None = None, **settings: Any) -> TestClient:
        config = ServerSettings(
            artifacts=artifacts or ranked, database=tmp_path / "ads.db", api_keys=KEYS, **settings
        )
        return TestClient(create_app(config), raise_server_exceptions=False)

    return make


def visit(client: Any, user: str, items: list[str] = HISTORY, headers: dict[str, str] = WRITER) -> None:
    events = [{"user_id": user, "item_id": item, "type": "view"} for item in items]
    response = client.post("/v1/events", json={"events": events}, headers=headers)
    assert response.status_code == 200, response.text


def put(client: Any, name: str, items: list[str], bid: float = 0.5, budget: float = 10.0, **more: Any) -> Any:
    body = {"items": items, "bid_per_click": bid, "daily_budget": budget, **more}
    return client.put(f"/v1/campaigns/{name}", json=body, headers=ADMIN)


def ads(client: Any, user: str, slots: int = 2) -> list[dict[str, Any]]:
    response = client.get(f"/v1/users/{user}/ads?slots={slots}", headers=WRITER)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    assert all(item["sponsored"] and item["impression_id"] for item in items)
    return items


def report(client: Any) -> dict[str, dict[str, Any]]:
    response = client.get("/v1/admin/ads", headers=ADMIN)
    assert response.status_code == 200, response.text
    return {c["campaign_id"]: c for c in response.json()["campaigns"]}


def test_campaigns_need_admin_and_refuse_what_cannot_serve(client_for: Factory) -> None:
    client = client_for()
    body = {"items": ["lip-3"], "bid_per_click": 0.5, "daily_budget": 5.0}
    assert client.put("/v1/campaigns/c1", json=body, headers=WRITER).status_code == 403
    unknown = put(client, "c1", ["lip-3", "nope"])
    assert unknown.status_code == 404 and unknown.json()["error"]["details"][0]["where"] == "body.items[1]"
    assert put(client, "c1", ["lip-3"], bid=0).status_code == 422
    assert client.get("/v1/campaigns/c1", headers=ADMIN).status_code == 404  # nothing was stored
    # a window that ends before it starts is what the shop asked for: stored, and never live
    backwards = put(client, "c0", ["lip-3"], start="2027-01-02T00:00:00Z", end="2027-01-01T00:00:00Z")
    assert backwards.status_code == 200 and not backwards.json()["live"]
    stored = put(client, "c1", ["lip-3", "eye-1"])
    assert stored.status_code == 200, stored.text
    assert stored.json()["items"] == ["eye-1", "lip-3"] and stored.json()["live"]
    assert client.get("/v1/campaigns/c1", headers=ADMIN).json()["bid_per_click"] == 0.5
    assert client.delete("/v1/campaigns/c1", headers=ADMIN).status_code == 200
    assert client.get("/v1/campaigns/c1", headers=ADMIN).status_code == 404


def test_an_ad_is_shown_held_clicked_charged_and_reported(client_for: Factory) -> None:
    client = client_for()
    assert put(client, "cheap", UNSEEN, bid=0.2).status_code == 200
    assert put(client, "rich", UNSEEN[:4], bid=0.9).status_code == 200
    assert ads(client, "stranger") == []  # the popular list answers strangers: no pCTR, no ads
    visit(client, "ann")
    shown = ads(client, "ann")
    assert len(shown) == 2 and {a["campaign_id"] for a in shown} == {"cheap", "rich"}
    assert not {a["item_id"] for a in shown} & set(HISTORY)  # candidates exclude what she saw
    assert shown[0]["score"] * (0.9 if shown[0]["campaign_id"] == "rich" else 0.2) >= shown[1]["score"] * (
        0.9 if shown[1]["campaign_id"] == "rich" else 0.2
    )  # best expected value first
    first = shown[0]
    held = report(client)[first["campaign_id"]]["today"]
    assert held["impressions"] == 1 and held["held"] > 0 and held["spent"] == 0
    # a click that names someone else's impression is refused, and nothing is stored
    wrong = {
        "user_id": "bob",
        "item_id": first["item_id"],
        "type": "click",
        "impression_id": first["impression_id"],
    }
    refused = client.post("/v1/events", json={"events": [wrong]}, headers=WRITER)
    assert refused.status_code == 404 and "impression_id" in refused.json()["error"]["details"][0]["where"]
    assert client.get("/v1/users/bob/profile", headers=WRITER).json()["events"] == 0
    click = {**wrong, "user_id": "ann"}
    for _ in range(2):  # the second click of one impression charges nothing
        assert client.post("/v1/events", json={"events": [click]}, headers=WRITER).status_code == 200
    buy = {**click, "type": "purchase"}
    assert client.post("/v1/events", json={"events": [buy]}, headers=WRITER).status_code == 200
    today = report(client)[first["campaign_id"]]["today"]
    assert today["clicks"] == 1 and today["conversions"] == 1 and today["held"] == 0
    bid = {"rich": 0.9, "cheap": 0.2}[first["campaign_id"]]
    assert today["spent"] == pytest.approx(held["held"]) and 0 < today["spent"] <= bid
    assert today["ctr"] == 1.0
    metrics = client.get("/metrics").text
    spend = f'semrec_ad_spend{{campaign="{first["campaign_id"]}",period="today"}} {today["spent"]}'
    assert spend in metrics and 'semrec_ad_impressions{campaign="cheap",period="all"} 1.0' in metrics
    assert "semrec_ad_budget_left" in metrics


def test_the_floor_the_cap_and_pausing_keep_ads_away(client_for: Factory) -> None:
    client = client_for(ads_frequency_cap=2)
    assert put(client, "c", UNSEEN, bid=1000.0).status_code == 200
    visit(client, "ann")
    assert len(ads(client, "ann", slots=1)) == 1
    assert len(ads(client, "ann", slots=1)) == 1
    assert ads(client, "ann", slots=1) == []  # two impressions of c today: the cap
    visit(client, "bob")
    assert put(client, "c", UNSEEN, bid=1000.0, active=False).status_code == 200
    assert ads(client, "bob") == []  # paused
    floor = client_for(ads_relevance_floor=1.0)  # the same database, a stricter server
    assert put(floor, "c", UNSEEN, bid=1000.0).status_code == 200
    assert ads(floor, "bob") == []  # however high the bid, nothing is relevant enough


def test_sponsored_slots_blend_into_recommendations(client_for: Factory) -> None:
    client = client_for(ads_positions=[1, 3], diversity=0.0)
    visit(client, "ann")
    organic = client.get("/v1/users/ann/recommendations?k=6", headers=WRITER).json()["items"]
    assert not any(item["sponsored"] for item in organic)
    sponsor = organic[4]["item_id"]  # an organic item: blended once, as the ad
    assert put(client, "c", [sponsor, UNSEEN[-1]]).status_code == 200
    blended = client.get("/v1/users/ann/recommendations?k=6&sponsored=2", headers=WRITER).json()["items"]
    ids = [item["item_id"] for item in blended]
    assert len(blended) == 6 and len(set(ids)) == 6
    marked = [i for i, item in enumerate(blended) if item["sponsored"]]
    assert marked and set(marked) <= {1, 3} and blended[marked[0]]["campaign_id"] == "c"
    assert [item["item_id"] for item in blended if not item["sponsored"]] == [
        i["item_id"] for i in organic if i["item_id"] not in {blended[m]["item_id"] for m in marked}
    ][: 6 - len(marked)]
    too_many = client.get("/v1/users/ann/recommendations?k=6&sponsored=3", headers=WRITER)
    assert too_many.status_code == 422  # two positions configured


def test_a_model_without_a_ranking_stage_says_why_it_serves_no_ads(client_for: Factory) -> None:
    client = client_for(ranker=False)
    visit(client, "ann")
    refused = client.get("/v1/users/ann/ads", headers=WRITER)
    assert refused.status_code == 409 and "ranking stage" in refused.json()["error"]["message"]


def test_parallel_requests_to_two_workers_never_overspend_a_small_budget(
    ranked: Path, tmp_path: Path
) -> None:
    """Real `semrec serve --workers 2` on loopback: 8 clients ask for ads for 60 shoppers at once;
    one campaign can pay 5 clicks at the reserve price (0.01 each, 0.05 a day)."""
    e2e_admin, e2e_writer = {"X-API-Key": "e2e-admin"}, {"X-API-Key": "e2e-writer"}
    config = write_config({"lmrec": ranked}, tmp_path)
    running = Server(config, "--workers", "2")
    running.start()
    try:
        assert len(workers_up(running)) == 2  # both processes serve before the clients start
        with httpx.Client(base_url=running.url, timeout=30) as one:
            body = {"items": UNSEEN, "bid_per_click": 0.5, "daily_budget": 0.05}
            assert one.put("/v1/campaigns/small", json=body).status_code == 401
            assert one.put("/v1/campaigns/small", json=body, headers=e2e_admin).status_code == 200
            for n in range(60):
                visit(one, f"s{n}", headers=e2e_writer)
        shown: list[tuple[str, dict[str, Any]]] = []
        workers: set[int] = set()
        guard = threading.Lock()
        start = threading.Barrier(8)

        def client(c: int) -> None:
            start.wait()
            for n in range(c, 60, 8):
                with httpx.Client(base_url=running.url, headers=e2e_writer, timeout=30) as fresh:
                    workers.add(fresh.get("/readyz").json()["worker"])
                    response = fresh.get(f"/v1/users/s{n}/ads?slots=2")
                    assert response.status_code == 200, response.text
                    with guard:
                        shown.extend((f"s{n}", item) for item in response.json()["items"])

        threads = [threading.Thread(target=client, args=(c,)) for c in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(workers) == 2  # both processes placed ads
        assert len(shown) == 5  # 0.05 / 0.01: every hold counted, whichever worker placed it
        with httpx.Client(base_url=running.url, timeout=30) as one:
            clicks = [
                {
                    "user_id": user,
                    "item_id": ad["item_id"],
                    "type": "click",
                    "impression_id": ad["impression_id"],
                }
                for user, ad in shown
            ]
            assert one.post("/v1/events", json={"events": clicks}, headers=e2e_writer).status_code == 200
            small = report_of(one, e2e_admin)["small"]
        assert small["today"]["clicks"] == 5 and small["today"]["spent"] == pytest.approx(0.05)
        assert small["today"]["budget_left"] == 0 and small["all_time"]["impressions"] == 5
    finally:
        running.stop()


def report_of(client: httpx.Client, headers: dict[str, str]) -> dict[str, dict[str, Any]]:
    response = client.get("/v1/admin/ads", headers=headers)
    assert response.status_code == 200, response.text
    return {c["campaign_id"]: c for c in response.json()["campaigns"]}


def test_sponsored_products_pass_the_shops_blocklists_and_age_restrictions(client_for: Factory) -> None:
    client = client_for(blocked_items=["hair-1"], age_restricted_categories=["Makeup > Eyes"])
    # campaigns of a blocked product, an age-restricted one and one allowed to all
    for name, item in (("blocked", "hair-1"), ("adult", "eye-1"), ("plain", "skin-1")):
        assert put(client, name, [item], bid=0.9).status_code == 200
    visit(client, "ann")
    assert {a["item_id"] for a in ads(client, "ann", slots=3)} <= {"skin-1"}
    response = client.get("/v1/users/ann/ads?slots=3&verified=true", headers=WRITER)
    assert response.status_code == 200, response.text
    shown = {a["item_id"] for a in response.json()["items"]}
    assert "hair-1" not in shown and "eye-1" in shown  # the adult sees it, nobody sees the blocked one
    sponsored = client.get("/v1/users/ann/recommendations?k=5&sponsored=2", headers=WRITER).json()["items"]
    assert not {i["item_id"] for i in sponsored} & {"hair-1", "eye-1"}


def test_a_shopper_can_see_everything_stored_about_them_until_erased(client_for: Factory) -> None:
    client = client_for()
    assert put(client, "plain", UNSEEN, bid=0.5).status_code == 200
    visit(client, "ann")
    answer = client.get("/v1/users/ann/recommendations?k=3", headers=WRITER).json()
    shown = ads(client, "ann", slots=1)
    click = {"user_id": "ann", "item_id": answer["items"][0]["item_id"], "type": "click"}
    click |= {"request_id": answer["request_id"], "position": 0}
    assert client.post("/v1/events", json={"events": [click]}, headers=WRITER).status_code == 200
    assert client.get("/v1/users/ann/export", headers=WRITER).status_code == 403  # admin only
    exported = client.get("/v1/users/ann/export", headers=ADMIN).json()
    assert exported["user_id"] == "ann" and exported["arm"] == "main"
    assert [e["item_id"] for e in exported["events"]] == [*HISTORY, click["item_id"]]
    assert exported["events"][-1]["answer"]["request_id"] == answer["request_id"]
    assert exported["events"][-1]["sent_with_key"] == "writer" and exported["events"][-1]["stored"] > 1e9
    assert [a["impression_id"] for a in exported["ad_impressions"]] == [shown[0]["impression_id"]]
    assert client.get("/v1/users/bob/export", headers=ADMIN).json()["events"] == []
    assert client.delete("/v1/users/ann", headers=ADMIN).status_code == 200
    erased = client.get("/v1/users/ann/export", headers=ADMIN).json()
    assert erased["events"] == [] and erased["ad_impressions"] == []  # billing records name no one
