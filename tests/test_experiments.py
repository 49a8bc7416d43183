"""A/B arms and attribution: sticky assignment in the configured shares, request ids that cannot be
forged, the report's statistics, the store's counts, and the whole loop over HTTP."""

from __future__ import annotations

import math
import re
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from semrec.feedback.arms import ArmPlan, Assignment, check_plan
from semrec.feedback.attribution import RequestIds, model_key
from semrec.feedback.report import difference, wilson
from semrec.schema import Attribution, Event
from semrec.store import open_store
from semrec.store.experiments import ExposureRow
from tests.test_serving_e2e import ADMIN, READER, WRITER, Server, assert_error, write_config

PLAN = [ArmPlan("A", 0.2), ArmPlan("B", 0.3), ArmPlan("C", 0.5)]


def within_sampling_error(count: int, n: int, share: float, sigmas: float = 4.0) -> bool:
    return abs(count - n * share) <= sigmas * math.sqrt(n * share * (1 - share))


def test_assignment_keeps_the_shares_and_each_shopper_where_they_were() -> None:
    shoppers = [f"shopper-{i}" for i in range(10_000)]
    first = Assignment("spring", PLAN, b"secret")
    arms = [first.assign(s) for s in shoppers]
    counts = Counter(arms)
    for plan in PLAN:
        assert within_sampling_error(counts[plan.name], len(shoppers), plan.share), counts
    # sticky: another process with the same secret and experiment assigns the same
    again = Assignment("spring", PLAN, b"secret")
    assert [again.assign(s) for s in shoppers] == arms
    # another experiment name (or secret) reshuffles
    assert [Assignment("summer", PLAN, b"secret").assign(s) for s in shoppers] != arms
    assert [Assignment("spring", PLAN, b"other").assign(s) for s in shoppers] != arms
    # a stopped arm's shoppers go to the control; nobody else moves
    first.set_stopped({"B"})
    moved = [first.assign(s) for s in shoppers]
    assert all(m == ("A" if a == "B" else a) for a, m in zip(arms, moved, strict=True))
    with pytest.raises(ValueError, match="control"):
        first.set_stopped({"A"})


@pytest.mark.parametrize(
    ("plan", "message"),
    [
        ([ArmPlan("A", 0.5), ArmPlan("B", 0.4)], "add up to 1"),
        ([ArmPlan("A", 0.5), ArmPlan("A", 0.5)], "distinct"),
        ([], "at least one"),
    ],
)
def test_a_bad_plan_is_refused_with_what_is_wrong(plan: list[ArmPlan], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_plan(plan)


def test_request_ids_say_what_answered_and_cannot_be_forged() -> None:
    ids = RequestIds(b"secret")
    issued = ids.issue("similar", "B", "lmrec@2026", 7)
    answer = ids.read(issued)
    assert answer is not None
    assert (answer.list, answer.arm, answer.model, answer.shown) == (
        "similar",
        "B",
        model_key("lmrec@2026"),
        7,
    )
    assert ids.issue("similar", "B", "lmrec@2026", 7) != issued  # every answer its own
    forged = issued.replace("similar.B.", "similar.A.")
    assert ids.read(forged) is None
    assert RequestIds(b"another server").read(issued) is None
    assert ids.read("not-a-request-id") is None
    taken = ids.take()
    assert [(e.arm, e.list, e.model_version, answers, items) for e, answers, items in taken] == [
        ("B", "similar", "lmrec@2026", 2, 14)
    ]
    assert ids.take() == []


def test_the_report_statistics() -> None:
    # Wilson interval of 10 / 100 (a textbook value)
    low, high = wilson(10, 100)
    assert low == pytest.approx(0.05523, abs=1e-4) and high == pytest.approx(0.17437, abs=1e-4)
    assert wilson(0, 50)[0] == 0.0 and wilson(0, 50)[1] > 0
    # 100 / 1000 against 150 / 1000: z = 3.38 (pooled), p = 0.00072
    test = difference(100, 1000, 150, 1000)
    assert test["difference"] == pytest.approx(0.05)
    assert test["p_value"] == pytest.approx(0.00072, abs=2e-5)
    assert test["interval"][0] > 0
    assert difference(100, 1000, 100, 1000)["p_value"] == pytest.approx(1.0)


def test_the_store_counts_exposures_and_attributed_actions(database: str) -> None:
    store = open_store(database)
    try:
        store.add_exposures([ExposureRow("A", "search", "m1", "v1", 2, 20)])
        store.add_exposures(
            [ExposureRow("A", "search", "m1", "v1", 1, 10), ExposureRow("B", "ads", "m2", "v2", 1, 1)]
        )
        assert sorted(store.exposures(), key=lambda r: r.arm) == [
            ExposureRow("A", "search", "m1", "v1", 3, 30),
            ExposureRow("B", "ads", "m2", "v2", 1, 1),
        ]
        said = Attribution("r1", 0, "search", "A", "m1")
        store.add_events(
            [
                Event("ann", "x", "click", 1.0, attribution=said),
                Event("ann", "x", "click", 2.0, attribution=said),  # the same click again: counted once
                Event("bob", "y", "click", 3.0, attribution=Attribution("r1", 1, "search", "A", "m1")),
                Event("bob", "y", "purchase", 4.0, attribution=Attribution("r1", 1, "search", "A", "m1")),
                Event("bob", "z", "view", 5.0),
            ]
        )
        counts = {(a.arm, a.type): a.count for a in store.attributed_actions()}
        assert counts == {("A", "click"): 2, ("A", "purchase"): 1}
        assert store.count_events() == 5
        store.delete_user("bob")  # erasure takes the attributions with the events
        assert {(a.arm, a.type): a.count for a in store.attributed_actions()} == {("A", "click"): 1}
        store.set_stopped_arms("spring", {"B"})
        assert store.stopped_arms("spring") == {"B"} and store.stopped_arms("summer") == set()
    finally:
        store.close()


def write_arms_config(shop_artifacts: dict[str, Path], tmp_path: Path) -> Path:
    config = write_config(shop_artifacts, tmp_path)
    arms = "[[arms]]\nname = 'A'\nshare = 0.3\n[[arms]]\nname = 'B'\nshare = 0.7\n"
    arms += f"artifacts = '{shop_artifacts['text-zeroshot']}'\n"
    # top-level keys first; 10,000 requests from one key would outrun the default read limit
    config.write_text('experiment = "spring"\nrate_limits = {}\n' + config.read_text() + arms)
    return config


def test_arms_and_attribution_end_to_end(shop_artifacts: dict[str, Path], tmp_path: Path) -> None:
    server = Server(write_arms_config(shop_artifacts, tmp_path))
    server.start()
    try:
        client = httpx.Client(base_url=server.url, timeout=30, headers=READER)
        shown = Counter[tuple[str, str]]()  # items each (arm, list) showed

        def get(url: str) -> dict[str, Any]:
            response = client.get(url)
            assert response.status_code == 200, (url, response.status_code, response.text)
            body: dict[str, Any] = response.json()
            shown[(body["arm"], body["request_id"].split(".")[0])] += len(body["items"])
            return body

        # 10,000 shoppers: the shares within sampling error, each arm's own model
        arms: dict[str, str] = {}
        versions: dict[str, set[str]] = {"A": set(), "B": set()}
        for i in range(10_000):
            body = get(f"/v1/users/s{i}/recommendations?k=1")
            arms[f"s{i}"] = body["arm"]
            versions[body["arm"]].add(body["model_version"])
        counts = Counter(arms.values())
        assert within_sampling_error(counts["A"], 10_000, 0.3), counts
        assert len(versions["A"]) == 1 and next(iter(versions["A"])).startswith("lmrec@")
        assert len(versions["B"]) == 1 and next(iter(versions["B"])).startswith("text-zeroshot@")
        # sticky: the same arm again, on every list that names the shopper
        for user in list(arms)[:100]:
            assert get(f"/v1/users/{user}/recommendations?k=1")["arm"] == arms[user]
            assert get(f"/v1/items/hair-1/similar?k=2&user_id={user}")["arm"] == arms[user]
            assert get(f"/v1/search?q=shampoo&k=2&user_id={user}")["arm"] == arms[user]
        assert get("/v1/items/hair-1/similar?k=2")["arm"] == "A"  # no shopper: the control

        # events naming their answer move that arm's counters, each (answer, position) once
        ann = next(u for u, a in arms.items() if a == "A")
        bob = next(u for u, a in arms.items() if a == "B")
        a_list = get(f"/v1/users/{ann}/recommendations?k=3")
        b_list = get(f"/v1/users/{bob}/recommendations?k=3")
        assert re.fullmatch(r"recommendations\.A\..+", a_list["request_id"])

        def event(user: str, answer: dict[str, Any], position: int, kind: str) -> dict[str, Any]:
            item = answer["items"][position]["item_id"]
            return {
                "user_id": user,
                "item_id": item,
                "type": kind,
                "request_id": answer["request_id"],
                "position": position,
            }

        sent = [
            event(ann, a_list, 0, "click"),
            event(ann, a_list, 0, "click"),  # sent twice: one click
            event(ann, a_list, 1, "click"),
            event(ann, a_list, 1, "cart"),
            event(ann, a_list, 1, "purchase"),
            event(bob, b_list, 2, "click"),
        ]
        assert client.post("/v1/events", json={"events": sent}, headers=WRITER).json() == {"accepted": 6}
        # a forged or stretched id is refused, and nothing of its batch is stored
        forged = {**event(bob, b_list, 0, "click"), "request_id": b_list["request_id"].replace(".B.", ".A.")}
        assert_error(client.post("/v1/events", json={"events": [sent[0], forged]}, headers=WRITER), 404)
        beyond = {**event(bob, b_list, 0, "click"), "position": 3}
        assert_error(client.post("/v1/events", json={"events": [beyond]}, headers=WRITER), 422)
        alone = {k: v for k, v in event(bob, b_list, 0, "click").items() if k != "position"}
        assert_error(client.post("/v1/events", json={"events": [alone]}, headers=WRITER), 422)

        report = client.get("/v1/admin/experiments", headers=ADMIN).json()
        assert report["experiment"] == "spring" and report["control"] == "A"
        by_arm = {arm["name"]: arm for arm in report["arms"]}
        a_recs, b_recs = by_arm["A"]["lists"]["recommendations"], by_arm["B"]["lists"]["recommendations"]
        assert (a_recs["clicks"], a_recs["carts"], a_recs["purchases"]) == (2, 1, 1)
        assert (b_recs["clicks"], b_recs["carts"], b_recs["purchases"]) == (1, 0, 0)
        # impressions: every item each arm showed, in each list
        for arm in ("A", "B"):
            for list_name in ("recommendations", "similar", "search"):
                assert by_arm[arm]["lists"][list_name]["impressions"] == shown[(arm, list_name)]
        assert a_recs["ctr"] == pytest.approx(2 / a_recs["impressions"])
        assert a_recs["ctr_interval"][0] <= a_recs["ctr"] <= a_recs["ctr_interval"][1]
        assert by_arm["B"]["versus_control"]["ctr"]["p_value"] <= 1.0
        assert by_arm["A"]["model_versions"][0]["model_version"] == next(iter(versions["A"]))
        metrics = client.get("/metrics").text
        assert re.search(
            r'semrec_experiment_clicks\{arm="A",list="recommendations",model_version="[^"]+"\} 2\.0', metrics
        )

        # stopping an arm sends its shoppers to the control at once, and nobody else moves
        assert_error(client.post("/v1/admin/experiments/arms/A/stop", headers=ADMIN), 409)
        assert_error(client.post("/v1/admin/experiments/arms/Z/stop", headers=ADMIN), 404)
        assert client.post("/v1/admin/experiments/arms/B/stop", headers=ADMIN).status_code == 200
        sample = list(arms)[:200]
        assert all(client.get(f"/v1/users/{u}/recommendations?k=1").json()["arm"] == "A" for u in sample)
        assert client.post("/v1/admin/experiments/arms/B/start", headers=ADMIN).status_code == 200
        assert all(client.get(f"/v1/users/{u}/recommendations?k=1").json()["arm"] == arms[u] for u in sample)
    finally:
        server.stop()
