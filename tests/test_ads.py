"""The ads auction and ledger: second-price charging, the relevance floor, the frequency cap, and
budgets that hold under many concurrent requests."""

from __future__ import annotations

import threading

import pytest

from semrec.ads.auction import Campaign, Offer, run_auction
from semrec.ads.ledger import Ledger


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
    with pytest.raises(ValueError, match="end must come after start"):
        Campaign("x", frozenset({"i"}), 1.0, 10.0, start=100.0, end=50.0)


def test_the_frequency_cap_limits_impressions_per_shopper_and_day() -> None:
    ledger = Ledger(frequency_cap=2)
    day = 10 * 86_400.0
    shown = [ledger.hold("c", 100.0, 0.1, "ann", now=day + i) for i in range(4)]
    assert [s is not None for s in shown] == [True, True, False, False]
    assert ledger.hold("c", 100.0, 0.1, "bob", now=day + 5) is not None  # another shopper
    assert ledger.hold("c", 100.0, 0.1, "ann", now=day + 86_400.0) is not None  # the next day


def test_holds_expire_and_clicks_charge_once() -> None:
    ledger = Ledger(hold_seconds=60.0, frequency_cap=100)
    first = ledger.hold("c", 0.25, 0.1, "ann", now=0.0)
    second = ledger.hold("c", 0.25, 0.1, "ann", now=1.0)
    assert first and second and ledger.hold("c", 0.25, 0.1, "ann", now=2.0) is None  # 0.3 > 0.25
    assert ledger.click(first, now=3.0) == pytest.approx(0.1)
    assert ledger.click(first, now=4.0) == 0.0  # charged once
    assert ledger.held("c", now=70.0) == pytest.approx(0.0)  # the second hold expired, unclicked
    assert ledger.click(second, now=71.0) == 0.0
    assert ledger.spent("c", now=72.0) == pytest.approx(0.1)


def test_many_concurrent_requests_never_overspend_a_small_budget() -> None:
    ledger = Ledger(frequency_cap=10**6)
    budget, price = 1.0, 0.03
    impressions: list[str] = []
    guard = threading.Lock()
    start = threading.Barrier(16)

    def shopper(n: int) -> None:
        start.wait()
        for i in range(200):
            held = ledger.hold("c", budget, price, f"s{n}-{i}", now=1000.0)
            if held is not None:
                with guard:
                    impressions.append(held)

    threads = [threading.Thread(target=shopper, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(impressions) == int(budget / price)  # 33 shown, 3,167 refused
    charged = sum(ledger.click(i, now=1001.0) for i in impressions)  # every one clicked
    assert charged <= budget + 1e-9 and ledger.spent("c", now=1002.0) == pytest.approx(charged)
