"""The ads auction and the store's ledger: second-price charging, the relevance floor, the frequency
cap, clicks charged once within the hold, and budgets that hold under many concurrent requests."""

from __future__ import annotations

import threading

import pytest

from semrec.ads.auction import Campaign, Offer, Placement, run_auction
from semrec.schema import Event
from semrec.store import open_store
from semrec.store.protocol import Store


def campaign(name: str, bid: float, budget: float = 100.0) -> Campaign:
    return Campaign(name, frozenset({f"{name}-item"}), bid, budget)


def offer(c: Campaign, pctr: float, relevance: float | None = None) -> Offer:
    return Offer(c, next(iter(c.items)), pctr, pctr if relevance is None else relevance)


def test_winners_rank_by_expected_value_and_pay_the_generalised_second_price() -> None:
    a, b, c = campaign("a", 1.0), campaign("b", 4.0), campaign("c", 2.0)
    placed = run_auction([offer(a, 0.10), offer(b, 0.02), offer(c, 0.05)], slots=2, relevance_floor=0.0)
    # expected values: a 0.10, c 0.10 (tie: by id), b 0.08
    assert [p.campaign_id for p in placed] == ["a", "c"]
    # a pays the least bid that keeps it above c: 0.10 / 0.10 = 1.0 (its own bid caps it)
    assert placed[0].price == pytest.approx(1.0)
    # c pays what it takes to stay above b: 0.08 / 0.05 = 1.6 < its bid of 2.0
    assert placed[1].price == pytest.approx(1.6)
    last = run_auction([offer(a, 0.10)], slots=1, relevance_floor=0.0, reserve_price=0.05)
    assert last[0].price == pytest.approx(0.05)  # nobody below: the reserve price


def test_an_irrelevant_ad_is_never_shown_however_high_its_bid() -> None:
    rich, fit = campaign("rich", 1000.0), campaign("fit", 0.5)
    placed = run_auction([offer(rich, 0.5, relevance=0.001), offer(fit, 0.05)], slots=2, relevance_floor=0.01)
    assert [p.campaign_id for p in placed] == ["fit"]
    assert placed[0].price == pytest.approx(0.01)  # the reserve: the irrelevant offer sets no price


def test_campaigns_refuse_unusable_settings_clearly() -> None:
    with pytest.raises(ValueError, match="bid"):
        Campaign("x", frozenset({"i"}), 0.0, 10.0)
    with pytest.raises(ValueError, match="at least one product"):
        Campaign("x", frozenset(), 1.0, 10.0)
    backwards = Campaign("x", frozenset({"i"}), 1.0, 10.0, start=100.0, end=50.0)
    assert not any(backwards.live(t) for t in (0.0, 50.0, 75.0, 100.0, 1e9))  # kept, but never serves


def show(
    store: Store,
    c: Campaign,
    shopper: str,
    price: float,
    now: float | None,
    cap: int = 100,
    hold: float = 60.0,
) -> str | None:
    """One offer of ``c`` to ``shopper``, won at ``price``: its impression id, or None if refused."""

    def auction(offers: list[Offer]) -> list[Placement]:
        return [Placement(o.campaign.campaign_id, o.item_id, o.pctr, price, o.value) for o in offers]

    shown = store.place_ads(shopper, [offer(c, 0.1)], auction, cap, hold, now=now)
    return shown[0].impression_id if shown else None


def click(store: Store, shopper: str, c: Campaign, impression: str, at: float) -> None:
    store.add_events([Event(shopper, next(iter(c.items)), "click", at, None, impression)])


def test_the_frequency_cap_limits_impressions_per_shopper_and_day(database: str) -> None:
    store = open_store(database)
    c = campaign("c", 1.0)
    day = 10 * 86_400.0
    shown = [show(store, c, "ann", 0.1, now=day + i, cap=2) for i in range(4)]
    assert [s is not None for s in shown] == [True, True, False, False]
    assert show(store, c, "bob", 0.1, now=day + 5, cap=2) is not None  # another shopper
    assert show(store, c, "ann", 0.1, now=day + 86_400.0, cap=2) is not None  # the next day


def test_holds_expire_and_clicks_charge_once(database: str, monkeypatch: pytest.MonkeyPatch) -> None:
    store = open_store(database)
    c = campaign("c", 1.0, budget=0.25)
    first, second = show(store, c, "ann", 0.1, now=0.0), show(store, c, "ann", 0.1, now=1.0)
    assert first and second and show(store, c, "ann", 0.1, now=2.0) is None  # 0.3 > 0.25
    clock = iter([3.0, 4.0, 70.0, 71.0])
    monkeypatch.setattr("semrec.store.sql.time.time", lambda: next(clock))
    click(store, "ann", c, first, 3.0)
    click(store, "ann", c, first, 4.0)  # charged once
    totals = store.ad_totals(now=5.0)["c"]["today"]
    assert (totals.clicks, totals.impressions, totals.spent, totals.held) == (
        1,
        2,
        0.1,
        0.1,
    )  # micro-units: exact
    assert store.ad_totals(now=65.0)["c"]["today"].held == 0.0  # the second hold expired, unclicked
    click(store, "ann", c, second, 70.0)  # stored, not charged: too late
    ever = store.ad_totals(now=72.0)["c"]["all"]
    assert (ever.clicks, ever.spent) == (1, 0.1)
    assert store.count_events() == 3  # every click is stored, charged or not


def test_many_concurrent_requests_never_overspend_a_small_budget(database: str) -> None:
    store = open_store(database)
    budget, price = 1.0, 0.03
    c = campaign("c", 1.0, budget=budget)
    impressions: list[str] = []
    guard = threading.Lock()
    start = threading.Barrier(16)

    def shopper(n: int) -> None:
        start.wait()
        for i in range(50):
            held = show(store, c, f"s{n}-{i}", price, now=None)  # now: the clicks below charge
            if held is not None:
                with guard:
                    impressions.append(held)

    threads = [threading.Thread(target=shopper, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(impressions) == int(budget / price)  # 33 shown, 767 refused
    for impression in impressions:  # every one clicked, within its hold
        shown = store.impression(impression)
        assert shown is not None
        store.add_events([Event(shown.user_key, shown.item_id, "click", 1.0, None, impression)])
    spent = store.ad_totals()["c"]
    assert spent["all"].clicks == 33 and spent["all"].spent <= budget + 1e-9


def test_an_erased_shopper_leaves_billing_records_that_name_no_one(database: str) -> None:
    store = open_store(database)
    c = campaign("c", 1.0)
    impression = show(store, c, "ann", 0.1, now=100.0)
    assert impression is not None
    store.delete_user("ann")
    shown = store.impression(impression)
    assert (
        shown is not None and shown.user_key == "" and store.ad_totals(now=101.0)["c"]["all"].impressions == 1
    )
