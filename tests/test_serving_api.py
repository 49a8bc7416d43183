"""The HTTP API in process: every answer reflects the last write, filters hold, errors have one shape."""

from __future__ import annotations

import dataclasses
import gc
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from semrec.api.app import PUBLIC_ROUTES, create_app
from semrec.api.auth import SCOPE_ATTRIBUTE
from semrec.online.rerank import rerank
from semrec.online.runtime import ModelRuntime
from semrec.settings import ServerSettings

KEYS = [
    {"name": "reader", "key": "r-secret", "scopes": ["read"]},
    {"name": "writer", "key": "w-secret", "scopes": ["read", "write"]},
    {"name": "ops", "key": "a-secret", "scopes": ["read", "write", "admin"]},
]
ADMIN = {"X-API-Key": "a-secret"}
WRITER = {"X-API-Key": "w-secret"}
READER = {"Authorization": "Bearer r-secret"}

Factory = Callable[..., TestClient]


@pytest.fixture
def client_for(shop_artifacts: dict[str, Path], tmp_path: Path) -> Factory:
    def make(model: str = "lmrec", **settings: Any) -> TestClient:
        config = ServerSettings(
            artifacts=shop_artifacts[model],
            database=tmp_path / f"{model}.db",
            api_keys=KEYS,
            **settings,
        )
        return TestClient(create_app(config), raise_server_exceptions=False)

    return make


def ids(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["item_id"] for item in response.json()["items"]]


def post_events(client: TestClient, user: str, *items: str, kind: str = "view") -> None:
    events = [{"user_id": user, "item_id": item, "type": kind} for item in items]
    response = client.post("/v1/events", json={"events": events}, headers=WRITER)
    assert response.status_code == 200 and response.json() == {"accepted": len(items)}


def count_calls(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str) -> list[int]:
    """Wraps ``owner.name`` so each call appends to the returned list (the call still happens)."""
    calls: list[int] = []
    original = getattr(owner, name)

    def counting(*args: Any) -> Any:
        calls.append(1)
        return original(*args)

    monkeypatch.setattr(owner, name, counting)
    return calls


@pytest.mark.parametrize("model", ["lmrec", "lmrec-2", "text-zeroshot"])
def test_each_event_changes_the_next_answer(client_for: Factory, model: str) -> None:
    client = client_for(model)
    cold = client.get("/v1/users/ann/recommendations?k=5", headers=READER)
    assert cold.json()["personalized"] is False and len(ids(cold)) == 5
    post_events(client, "ann", "hair-1")
    first = client.get("/v1/users/ann/recommendations?k=5", headers=READER).json()
    assert first["personalized"] is True and "hair-1" not in [i["item_id"] for i in first["items"]]
    assert first["items"][0]["reason"] == "because you viewed Tea Tree Shampoo"
    assert first["items"][0]["item_id"] == "hair-2"  # the shop's shoppers go shampoo -> conditioner
    post_events(client, "ann", "lip-1", "lip-2")
    second = ids(client.get("/v1/users/ann/recommendations?k=5", headers=READER))
    assert second != [i["item_id"] for i in first["items"]]
    assert not {"lip-1", "lip-2", "hair-1"} & set(second)
    everything = ids(client.get("/v1/users/ann/recommendations?k=12&exclude_seen=false", headers=READER))
    assert {"lip-1", "lip-2", "hair-1"} <= set(everything) and len(everything) == 12


@pytest.mark.parametrize("artifacts", ["lmrec", "lmrec-2"])
def test_server_answers_match_the_offline_model(shop_artifacts: dict[str, Path], artifacts: str) -> None:
    runtime = ModelRuntime(shop_artifacts[artifacts])
    assert runtime.prior is not None
    # both extra terms on, whatever the fixture's validation chose
    runtime.model.prior_weight, runtime.model.text_weight = 1.0, 2.0
    runtime.weights = runtime.model.weights
    assert (runtime.weights.prior, runtime.weights.text) == (1.0, 2.0)
    histories = [np.array([0, 1]), np.array([5]), np.array([3, 4, 0, 2, 7])]
    network = runtime.queries(histories, runtime.item_vectors) @ runtime.item_vectors.T
    everything = np.arange(len(runtime.item_ids))
    served = np.stack(
        [
            runtime.rescore(
                h,
                everything,
                row,
                runtime.text_vectors @ runtime.taste(runtime.text_vectors[h]),
                runtime.text_vectors,
            )
            for h, row in zip(histories, network, strict=True)
        ]
    )
    offline = runtime.model.score(histories)
    np.testing.assert_allclose(served, offline, rtol=1e-5, atol=1e-5)  # the same blend, one path


def test_a_query_vector_is_computed_once_per_history_and_never_outlives_it(
    client_for: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = client_for()
    engine = client.app.state.follower.engine  # type: ignore[attr-defined]
    computed = count_calls(monkeypatch, engine.runtime, "queries")
    url = "/v1/users/eve/recommendations?k=5"
    post_events(client, "eve", "hair-1")
    first = ids(client.get(url, headers=READER))
    assert ids(client.get(url, headers=READER)) == first and len(computed) == 1  # reused
    post_events(client, "eve", "lip-1")  # a new event: a new history, a new query
    assert ids(client.get(url, headers=READER)) != first and len(computed) == 2
    client.get("/v1/search?q=shampoo&user_id=eve", headers=READER)  # search reuses the same query
    assert len(computed) == 2
    key = engine.user_key("eve")
    assert key in engine._queries
    assert client.delete("/v1/users/eve", headers=ADMIN).status_code == 200
    assert key not in engine._queries  # erasure drops it at once
    cold = client.get(url, headers=READER).json()
    assert cold["personalized"] is False and len(computed) == 2


def test_a_list_is_reused_only_while_history_request_and_catalog_are_the_same(
    client_for: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = client_for()
    engine = client.app.state.follower.engine  # type: ignore[attr-defined]
    built = count_calls(monkeypatch, engine, "_personal")
    url = "/v1/users/gil/recommendations?k=4"
    post_events(client, "gil", "hair-1")
    first = ids(client.get(url, headers=READER))
    assert ids(client.get(url, headers=READER)) == first and len(built) == 1  # same inputs: reused
    ids(client.get("/v1/users/gil/recommendations?k=3", headers=READER))  # another request
    assert len(built) == 2
    post_events(client, "gil", "hair-1", kind="purchase")  # same item, new event: a new history
    assert "bought" in client.get(url, headers=READER).json()["items"][0]["reason"]
    assert len(built) == 3
    assert client.delete(f"/v1/items/{first[0]}", headers=WRITER).status_code == 200  # catalog changed
    assert first[0] not in ids(client.get(url, headers=READER)) and len(built) == 4
    body = {"title": "Tea Tree Shampoo Travel Size", "category": "Hair > Shampoo"}
    assert client.put("/v1/items/hair-new", json=body, headers=WRITER).status_code == 200
    ids(client.get(url, headers=READER))
    assert len(built) == 5
    assert client.delete("/v1/users/gil", headers=ADMIN).status_code == 200
    assert engine.user_key("gil") not in engine._answers


def test_the_query_cache_is_bounded(client_for: Factory) -> None:
    client = client_for(query_cache_size=2)
    for user in ("u1", "u2", "u3"):
        post_events(client, user, "hair-1")
        ids(client.get(f"/v1/users/{user}/recommendations", headers=READER))
    engine = client.app.state.follower.engine  # type: ignore[attr-defined]
    assert list(engine._queries) == [engine.user_key("u2"), engine.user_key("u3")]


def test_the_onnx_shopper_tower_equals_the_torch_network(shop_artifacts: dict[str, Path]) -> None:
    fast = ModelRuntime(shop_artifacts["lmrec"])
    reference = ModelRuntime(shop_artifacts["lmrec"], tower="torch")
    assert fast.tower is not None and fast.tower.graph is not None
    longest = fast.tower.length + 7  # longer than the network reads: both keep the most recent
    rng = np.random.default_rng(0)
    histories = [rng.integers(0, len(fast.item_ids), n) for n in (1, 2, 5, longest)] + [np.array([])]
    together = fast.queries(histories, fast.item_vectors)
    assert np.allclose(together, reference.queries(histories, fast.item_vectors), atol=1e-5)
    alone = np.vstack([fast.queries([h], fast.item_vectors) for h in histories])
    assert np.allclose(together, alone, atol=1e-6) and not together[-1].any()


@pytest.mark.parametrize("model", ["lmrec", "lmrec-2"])
def test_a_new_product_is_findable_at_once_and_a_deleted_one_never_again(
    client_for: Factory, model: str
) -> None:
    client = client_for(model)
    body = {"title": "Velvet Rose Lipstick Duo", "brand": "Nova", "category": "Makeup > Lips", "price": 19}
    stored = client.put("/v1/items/lip-new", json=body, headers=WRITER)
    assert stored.status_code == 200 and stored.json()["recommendable"] is True
    assert "lip-new" in ids(client.get("/v1/items/lip-1/similar?k=3", headers=READER))
    assert ids(client.get("/v1/search?q=Nova&k=3", headers=READER))[0] == "lip-new"  # exact brand word
    post_events(client, "bob", "lip-new")  # events on the new product are accepted at once
    assert ids(client.get("/v1/users/bob/recommendations?k=3", headers=READER))
    assert client.delete("/v1/items/lip-2", headers=WRITER).status_code == 200
    for url in (
        "/v1/users/bob/recommendations?k=20",
        "/v1/users/nobody/recommendations?k=20",
        "/v1/items/lip-1/similar?k=20",
        "/v1/search?q=cherry+lip+gloss&k=20",
    ):
        assert "lip-2" not in ids(client.get(url, headers=READER)), url
    assert client.get("/v1/items/lip-2", headers=READER).status_code == 404
    gone = {"user_id": "bob", "item_id": "lip-2", "type": "view"}
    missing = client.post("/v1/events", json={"events": [gone]}, headers=WRITER)
    assert missing.status_code == 404


def test_availability_category_and_sku_search(client_for: Factory) -> None:
    client = client_for()
    body = {"title": "Tea Tree Shampoo", "brand": "Verda", "category": "Hair > Shampoo", "available": False}
    assert client.put("/v1/items/hair-1", json=body, headers=WRITER).status_code == 200
    for url in (
        "/v1/users/x/recommendations?k=20",
        "/v1/items/hair-2/similar?k=20",
        "/v1/search?q=shampoo&k=20",
    ):
        assert "hair-1" not in ids(client.get(url, headers=READER)), url
    post_events(client, "cat", "lip-1")
    only_hair = ids(client.get("/v1/users/cat/recommendations?k=5&category=hair", headers=READER))
    assert only_hair and set(only_hair) <= {"hair-2", "hair-3"}
    assert ids(client.get("/v1/search?q=skin-2&k=3", headers=READER))[0] == "skin-2"  # SKU match


def test_search_blends_the_shoppers_taste(client_for: Factory) -> None:
    client = client_for()
    neutral = client.get("/v1/search?q=beauty&k=12", headers=READER).json()["items"]
    post_events(client, "hairfan", "hair-1", "hair-2", "hair-3")
    personal = client.get("/v1/search?q=beauty&k=12&user_id=hairfan", headers=READER).json()["items"]

    def rank(items: list[dict[str, Any]], item: str) -> int:
        return [i["item_id"] for i in items].index(item) if item in [i["item_id"] for i in items] else 99

    assert rank(personal, "hair-3") <= rank(neutral, "hair-3")
    assert [i["item_id"] for i in personal] != [i["item_id"] for i in neutral]


def test_profile_and_erasure(client_for: Factory, tmp_path: Path) -> None:
    client = client_for()
    post_events(client, "dora@example.com", "lip-1", "lip-2", kind="purchase")
    post_events(client, "dora@example.com", "eye-2")
    profile = client.get("/v1/users/dora@example.com/profile", headers=READER).json()
    assert profile["events"] == 3 and profile["top_brands"][0] == "Glowa"
    assert "lips" in profile["top_categories"] and profile["recent_items"][0]["item_id"] == "eye-2"
    assert b"dora@example.com" not in (tmp_path / "lmrec.db").read_bytes()  # stored under a pseudonym
    assert client.delete("/v1/users/dora@example.com", headers=WRITER).status_code == 403  # admin only
    erased = client.delete("/v1/users/dora@example.com", headers=ADMIN)
    assert erased.json() == {"deleted": True, "removed_events": 3}
    assert client.get("/v1/users/dora@example.com/profile", headers=READER).json()["events"] == 0
    assert (
        client.get("/v1/users/dora@example.com/recommendations", headers=READER).json()["personalized"]
        is False
    )


def error_of(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert set(error) == {"status", "code", "message", "details"} and error["status"] == status
    return error


def test_bad_input_gets_one_error_shape_and_changes_nothing(client_for: Factory) -> None:
    client = client_for(max_body_bytes=4096, max_events_per_request=3)
    event = {"user_id": "eve", "item_id": "lip-1", "type": "view"}
    bad_type = client.post("/v1/events", json={"events": [event, {**event, "type": "like"}]}, headers=WRITER)
    detail = error_of(bad_type, 422)["details"][0]
    assert detail["where"] == "body.events[1].type" and "purchase" in str(detail["allowed"])
    unknown_item = client.post(
        "/v1/events", json={"events": [event, {**event, "item_id": "nope"}]}, headers=WRITER
    )
    # a product the catalog does not hold is not found (the schema cannot know the catalog)
    assert error_of(unknown_item, 404)["details"][0]["where"] == "body.events[1].item_id"
    rating = client.post(
        "/v1/events", json={"events": [{**event, "type": "rating", "value": 9}]}, headers=WRITER
    )
    assert error_of(rating, 422)["details"][0]["where"] == "body.events[0].value"
    unrated = client.post("/v1/events", json={"events": [{**event, "type": "rating"}]}, headers=WRITER)
    assert error_of(unrated, 422)["details"][0]["where"] == "body.events[0].value"
    coerced = client.post("/v1/events", json={"events": [{**event, "user_id": 7}]}, headers=WRITER)
    assert error_of(coerced, 422)["details"][0]["where"] == "body.events[0].user_id"  # no coercion
    assert client.get("/v1/users/eve/profile", headers=READER).json()["events"] == 0  # nothing stored
    error_of(
        client.post(
            "/v1/events", content=b"{not json", headers={**WRITER, "content-type": "application/json"}
        ),
        422,
    )
    too_many = client.post("/v1/events", json={"events": [event] * 4}, headers=WRITER)
    assert error_of(too_many, 422)["details"][0]["where"] == "body.events"  # the schema says at most 3
    error_of(client.post("/v1/events", content=b"x" * 5000, headers=WRITER), 413)
    assert (
        error_of(client.get("/v1/users/eve/recommendations?k=0", headers=READER), 422)["details"][0]["where"]
        == "query.k"
    )
    error_of(client.get("/v1/users/eve/recommendations?k=abc", headers=READER), 422)
    error_of(client.get("/v1/search?q=", headers=READER), 422)
    error_of(client.get("/v1/items/none/similar", headers=READER), 404)
    error_of(client.put("/v1/items/x", json={"title": ""}, headers=WRITER), 422)
    error_of(client.put("/v1/items/x", json={"title": "A", "price": -1}, headers=WRITER), 422)
    error_of(client.get("/v1/nowhere", headers=READER), 404)


def test_auth_401_and_403(client_for: Factory) -> None:
    client = client_for()
    error_of(client.get("/v1/users/a/recommendations"), 401)
    error_of(client.get("/v1/users/a/recommendations", headers={"X-API-Key": "wrong"}), 401)
    error_of(client.post("/v1/events", json={"events": []}, headers=READER), 403)
    error_of(client.post("/v1/admin/reload", headers=WRITER), 403)
    assert client.get("/healthz").status_code == 200 and client.get("/metrics").status_code == 200


def _api_routes(routes: list[Any]) -> list[APIRoute]:
    """Every API route, also those of the routers the app includes (kept nested by FastAPI)."""
    found: list[APIRoute] = []
    for route in routes:
        if isinstance(route, APIRoute):
            found.append(route)
        elif hasattr(route, "original_router"):
            found += _api_routes(route.original_router.routes)
    return found


def test_every_route_needs_its_scope(client_for: Factory) -> None:
    """Walks every route of the app: each one outside the public list demands a scope and refuses
    requests without a key or with a key lacking that scope."""
    client = client_for()
    app = client.app
    scoped = 0
    for route in _api_routes(app.routes):  # type: ignore[attr-defined]
        scopes = [getattr(d.call, SCOPE_ATTRIBUTE, None) for d in route.dependant.dependencies]
        scopes += [getattr(d.dependency, SCOPE_ATTRIBUTE, None) for d in route.dependencies]
        required = [s for s in scopes if s is not None]
        if route.path in PUBLIC_ROUTES:
            assert not required
            continue
        assert required, f"{route.path} is reachable without a scope"
        scoped += 1
        url = route.path.replace("{user_id}", "u1").replace("{item_id}", "lip-1")
        method = sorted(route.methods or ())[0]
        assert client.request(method, url).status_code == 401, (method, url)
        weaker = {"read": None, "write": READER, "admin": WRITER}[required[0]]
        if weaker is not None:
            assert client.request(method, url, headers=weaker).status_code == 403, (method, url)
    assert scoped >= 10


def test_metrics_count_requests_and_events(client_for: Factory) -> None:
    client = client_for()
    post_events(client, "m", "lip-1", "lip-2")
    client.get("/v1/users/m/recommendations", headers=READER)
    text = client.get("/metrics").text
    assert 'semrec_events_ingested_total{type="view"} 2.0' in text
    assert 'route="/v1/users/{user_id}/recommendations"' in text
    assert "semrec_index_items 12.0" in text and "semrec_model_info{version=" in text


def test_readiness_names_the_encoder_backend_and_the_cpu(client_for: Factory) -> None:
    client = client_for()
    encoder = client.get("/readyz").json()["encoder"]
    assert encoder["backend"] == "torch-fp32"  # the artifacts carry no export: products take torch
    flags = encoder["cpu"]["flags"]
    assert encoder["cpu"]["model"] and set(flags) >= {"avx2", "avx512_vnni", "avx512_bf16"}
    # queries take int8 where the CPU has VNNI, the fp32 export elsewhere (made once, cached)
    vnni = flags["avx512_vnni"] or flags["avx_vnni"] or flags["amx_int8"]
    assert encoder["query_backend"] == ("onnx-int8" if vnni else "onnx-fp32")
    found = client.get("/v1/search", params={"q": "coral nail polish"}, headers=READER).json()
    assert found["items"][0]["title"] == "Coral Nail Polish"  # int8 queries still find it


def test_reload_swaps_models_and_keeps_writes(client_for: Factory, shop_artifacts: dict[str, Path]) -> None:
    client = client_for()
    assert client.put("/v1/items/new", json={"title": "Rose Balm"}, headers=WRITER).status_code == 200
    before = client.get("/readyz").json()["model_version"]
    swapped = client.post(
        "/v1/admin/reload", json={"artifacts": str(shop_artifacts["text-zeroshot"])}, headers=ADMIN
    )
    assert swapped.status_code == 200, swapped.text
    assert swapped.json()["previous_version"] == before and swapped.json()["model_version"].startswith(
        "text-zeroshot"
    )
    assert "new" in ids(client.get("/v1/search?q=rose+balm&k=3", headers=READER))  # API items survive reloads
    error_of(client.post("/v1/admin/reload", json={"artifacts": "/nonexistent"}, headers=ADMIN), 404)


def test_engine_leaves_the_collector_and_a_reload_frees_the_old_one(
    client_for: Factory, shop_artifacts: dict[str, Path]
) -> None:
    client = client_for()
    engine = client.app.state.follower.engine  # type: ignore[attr-defined]
    tracked = {id(o) for o in gc.get_objects()}
    assert id(engine.catalog.meta) not in tracked and id(engine.catalog.meta[0]) not in tracked  # frozen
    old = weakref.ref(engine)
    engine.cycle = [engine]  # only the collector frees a cycle, and never while it is frozen
    del engine
    reloaded = client.post(
        "/v1/admin/reload", json={"artifacts": str(shop_artifacts["text-zeroshot"])}, headers=ADMIN
    )
    assert reloaded.status_code == 200, reloaded.text
    assert old() is None  # thawed and collected, not kept frozen
    new = client.app.state.follower.engine  # type: ignore[attr-defined]
    assert id(new.catalog.meta) not in {id(o) for o in gc.get_objects()}


def test_unit_vectors_follow_every_appended_row(client_for: Factory) -> None:
    client = client_for()
    assert client.put("/v1/items/new", json={"title": "Rose Balm"}, headers=WRITER).status_code == 200
    catalog = client.app.state.follower.engine.catalog  # type: ignore[attr-defined]
    rows = np.arange(catalog.rows)
    vectors = catalog.rec.array[rows]
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    expected = np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)
    assert len(catalog.rec_scale) == catalog.rows
    assert np.allclose(catalog.unit_rec(rows), expected, atol=1e-6)


def test_exact_and_hnsw_agree_on_a_small_catalog(client_for: Factory) -> None:
    hnsw, exact = client_for(index="hnsw", diversity=0.0), client_for(index="exact", diversity=0.0)
    for client in (hnsw, exact):
        post_events(client, "z", "eye-1", "lip-1")
    url = "/v1/users/z/recommendations?k=5"
    assert ids(hnsw.get(url, headers=READER)) == ids(exact.get(url, headers=READER))


def test_diversity_reranking_is_maximal_marginal_relevance(client_for: Factory) -> None:
    engine = client_for().app.state.follower.engine  # type: ignore[attr-defined]
    rng = np.random.default_rng(2)
    rows = rng.choice(engine.catalog.rows, 10, replace=False)
    scores = rng.normal(size=10)
    vectors = engine.catalog.rec.array[rows]
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    relevance = (scores - scores.min()) / (scores.max() - scores.min()) + engine.catalog.bonus[rows]
    for diversity in (0.0, 0.3, 0.9):
        expected: list[int] = []  # textbook MMR: relevance against the closest item already chosen
        while len(expected) < 5:
            candidates = [i for i in range(10) if i not in expected]
            closest = [max((unit[i] @ unit[j] for j in expected), default=0.0) for i in candidates]
            values = [
                (1 - diversity) * relevance[i] - diversity * c
                for i, c in zip(candidates, closest, strict=True)
            ]
            expected.append(candidates[int(np.argmax(values))])
        picked = rows[rerank(engine.catalog, rows, scores, 5, diversity)[0]].tolist()
        assert picked == [int(rows[i]) for i in expected], diversity
    by_score = [int(r) for r in rows[np.argsort(-scores)[:5]]]
    assert rows[rerank(engine.catalog, rows, scores, 5, 0.0)[0]].tolist() == by_score


def test_a_new_product_is_recommended_despite_the_co_occurrence_prior(client_for: Factory) -> None:
    client = client_for(diversity=0.0, max_k=1000)
    engine = client.app.state.follower.engine  # type: ignore[attr-defined]
    assert engine.runtime.prior is not None
    engine.runtime.prior_weight = 2.0  # a strong prior: without a neutral term it buries new items
    post_events(client, "fay", "lip-1", "lip-2")
    all_items = f"/v1/users/fay/recommendations?k={engine.catalog.rows}"
    before = ids(client.get(all_items, headers=READER))
    body = {"title": "Cherry Lip Gloss Shine", "brand": "Nova", "category": "Makeup > Lips"}
    assert client.put("/v1/items/lip-new", json=body, headers=WRITER).status_code == 200
    after = ids(client.get(all_items + "0", headers=READER))  # k larger than the catalog
    assert "lip-new" in after and len(after) == len(before) + 1
    # the new item's prior term is the neutral one, not the floor every unrelated item gets
    history = engine.catalog.trained[[engine.catalog.live_row("lip-1"), engine.catalog.live_row("lip-2")]]
    candidates = np.array([-1, *range(len(engine.runtime.item_ids))])
    scores = np.zeros(len(candidates), dtype=np.float32)
    terms = engine.runtime.rescore(history, candidates, scores)
    assert terms[0] > 2.0 * np.log(1e-3) + 0.1
    warm = engine.runtime.model.counts > 0  # all of them fit the neutral pool of 50: its mean
    assert warm.sum() <= 50 and terms[0] == pytest.approx(terms[1:][warm].mean(), rel=1e-5)


@pytest.mark.parametrize("text_shortlist", [False, True])
def test_served_lists_follow_the_offline_blend_and_text_taste_brings_new_products(
    client_for: Factory, text_shortlist: bool
) -> None:
    client = client_for(diversity=0.0, text_shortlist=text_shortlist)
    engine = client.app.state.follower.engine  # type: ignore[attr-defined]
    runtime = engine.runtime
    runtime.model.prior_weight, runtime.model.text_weight = 1.0, 3.0
    runtime.weights = runtime.model.weights
    post_events(client, "gus", "hair-1", "lip-1")
    served = ids(client.get("/v1/users/gus/recommendations?k=5", headers=READER))
    history = [np.array([runtime.index_of["hair-1"], runtime.index_of["lip-1"]])]
    offline = runtime.model.recommend(history, k=5, exclude=history)[0]
    assert served == [runtime.item_ids[i] for i in offline]
    # a brand-new product named like the shopper's last item: the text taste lifts it
    body = {"title": "Velvet Rose Lipstick Refill", "brand": "Glowa", "category": "Makeup > Lips"}
    assert client.put("/v1/items/lip-refill", json=body, headers=WRITER).status_code == 200
    runtime.weights = dataclasses.replace(runtime.weights, text=0.0)
    without = ids(client.get("/v1/users/gus/recommendations?k=11", headers=READER))
    runtime.weights = dataclasses.replace(runtime.weights, text=50.0)
    with_text = ids(client.get("/v1/users/gus/recommendations?k=10", headers=READER))
    assert with_text.index("lip-refill") <= 1 and with_text.index("lip-refill") <= without.index("lip-refill")


def test_building_an_engine_writes_nothing_to_the_store(
    shop_artifacts: dict[str, Path], tmp_path: Path
) -> None:
    import sqlite3

    from semrec.online.engine import Engine
    from semrec.online.seed import prepare_store
    from semrec.store.sqlite import SQLiteStore

    settings = ServerSettings(artifacts=shop_artifacts["lmrec"], database=tmp_path / "shop.db")
    runtime = ModelRuntime(settings.artifacts)
    store = SQLiteStore(settings.database)
    secret = prepare_store(store, runtime, settings)  # the model's products and the secret: written here

    def contents() -> list[str]:
        with sqlite3.connect(settings.database) as connection:
            return list(connection.iterdump())

    before = contents()
    assert any("INSERT INTO" in line for line in before)  # the catalog is there
    engine = Engine(settings, store, runtime, secret)
    assert engine.catalog.rows == len(runtime.item_ids) and contents() == before
    assert prepare_store(store, runtime, settings) == secret  # a second start keeps the pseudonyms
