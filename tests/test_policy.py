"""The shop's blocklists and age restrictions, held by every answer: one filter, a test per route."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from semrec.api.app import create_app
from semrec.online.policy import ItemPolicy
from semrec.schema import Item
from semrec.settings import ServerSettings
from tests.shop_fixture import SHOP_ITEMS

WRITER = {"X-API-Key": "w-secret"}
POLICY: dict[str, Any] = {
    "blocked_items": ["hair-2"],
    "blocked_categories": ["Nails"],
    "blocked_keywords": ["sunscreen"],
    "age_restricted_categories": ["Makeup > Eyes"],
}
BLOCKED = {"hair-2", "nail-1", "nail-2", "skin-2"}
RESTRICTED = {"eye-1", "eye-2"}
EVERYTHING = len(SHOP_ITEMS) + 2  # more than the catalog: every item the filter lets through


def test_the_policy_judges_ids_categories_words_and_attributes() -> None:
    policy = ItemPolicy.of(["x-1"], ["Garden > Tools"], ["knife"], ["Spirits"], ["vodka"])
    assert policy.judge(Item("x-1", "Anything")) == (True, False)
    assert policy.judge(Item("a", "Spade", category="Garden > Tools"))[0]  # the whole path
    assert policy.judge(Item("b", "Rake", category="Home > Garden > Tools > Rakes"))[0] is False
    assert policy.judge(Item("c", "Chef's KNIFE set"))[0]  # whole words, any case
    assert not policy.judge(Item("d", "Knifed edge trim"))[0]  # not inside another word
    assert policy.judge(Item("e", "Gin", category="Drinks > Spirits")) == (False, True)  # any part
    assert policy.judge(Item("f", "Lemon", text="a vodka liqueur")) == (False, True)  # the text too
    assert policy.judge(Item("g", "Wine", attributes={"age_restricted": True})) == (False, True)
    assert ItemPolicy().judge(Item("h", "Knife", category="Spirits")) == (False, False)


@pytest.fixture
def client(shop_artifacts: dict[str, Path], tmp_path: Path) -> TestClient:
    keys = [{"name": "writer", "key": "w-secret", "scopes": ["read", "write"]}]
    settings = ServerSettings(
        artifacts=shop_artifacts["lmrec"], database=tmp_path / "policy.db", api_keys=keys, **POLICY
    )
    return TestClient(create_app(settings), raise_server_exceptions=False)


def listed(client: TestClient, url: str, verified: bool = False) -> set[str]:
    joiner = "&" if "?" in url else "?"
    response = client.get(f"{url}{joiner}verified={str(verified).lower()}", headers=WRITER)
    assert response.status_code == 200, response.text
    return {item["item_id"] for item in response.json()["items"]}


def check(client: TestClient, url: str) -> None:
    """Blocked items never; age-restricted ones only for a verified adult, who may see them."""
    shown, adult = listed(client, url), listed(client, url, verified=True)
    assert not shown & BLOCKED and not adult & BLOCKED
    assert not shown & RESTRICTED
    assert adult & RESTRICTED, f"{url}: a verified adult should see the restricted items it ranks"


def test_personal_recommendations(client: TestClient) -> None:
    events = [{"user_id": "ann", "item_id": i, "type": "view"} for i in ("lip-1", "hair-1")]
    assert client.post("/v1/events", json={"events": events}, headers=WRITER).status_code == 200
    check(client, f"/v1/users/ann/recommendations?k={EVERYTHING}")


def test_the_popular_list(client: TestClient) -> None:
    check(client, f"/v1/users/stranger/recommendations?k={EVERYTHING}")


def test_similar_products(client: TestClient) -> None:
    check(client, f"/v1/items/lip-1/similar?k={EVERYTHING}")


def test_search(client: TestClient) -> None:
    check(client, f"/v1/search?q=makeup&k={EVERYTHING}")
    assert not listed(client, "/v1/search?q=sunscreen&k=3") & BLOCKED  # even asked for by name


def test_a_new_or_changed_product_is_judged_at_once(client: TestClient) -> None:
    products: dict[str, dict[str, Any]] = {
        "wine-1": {"title": "Rose Lip Balm", "attributes": {"age_restricted": True}},
        "nail-9": {"title": "Rose Nail Polish", "category": "Nails"},
    }
    for item_id, body in products.items():
        assert client.put(f"/v1/items/{item_id}", json=body, headers=WRITER).status_code == 200
    assert "wine-1" not in listed(client, "/v1/search?q=rose&k=10")
    assert "wine-1" in listed(client, "/v1/search?q=rose&k=10", verified=True)
    assert "nail-9" not in listed(client, "/v1/search?q=rose&k=10", verified=True)
    # the shop can still read a blocked product: it is only kept out of answers
    assert client.get("/v1/items/nail-9", headers=WRITER).status_code == 200
