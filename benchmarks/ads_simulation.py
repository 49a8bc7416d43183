"""Offline ads simulation: sponsored slots beside the organic list, ranked three ways, on trained
lmrec artifacts that carry a ranking stage.

Campaigns sponsor random sets of products at random bids per click. For each shopper, the offers
are the sponsored products among the ranking stage's candidates, with its calibrated p(next item)
as the pCTR; an ad is clicked when it is the shopper's next item. Three orders fill the --slots:
- expected value (semrec.ads.auction: pCTR x bid, above a relevance floor on the pCTR),
- bid alone, and relevance (pCTR) alone.
Each winner pays per click the least bid that would have kept its slot under its order (the
generalised second price; under relevance alone that is the reserve price). The relevance floor
is chosen on the validation shoppers (the most revenue at no loss of ad click rate against bid
alone), then every figure is the test split's. The organic top 10 is the ranking stage's, untouched
by the ads (its NDCG@10 is reported beside them).

usage: python benchmarks/ads_simulation.py --artifacts A [--data ../shared/datasets/amazon-beauty]
       [--campaigns 300] [--items-per-campaign 30] [--slots 2] [--seed 0] [--out results.json]
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from semrec.ads.auction import Campaign, Offer, run_auction
from semrec.data.splits import EvalCases
from semrec.evaluation.runner import load_sequential, publish_test_results
from semrec.models.ranker import candidates
from semrec.models.sequential import SequentialRecommender

ROOT = Path(__file__).resolve().parents[1]
FLOORS = (0.0, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02)
RESERVE = 0.01


def campaigns_for(n_items: int, count: int, size: int, seed: int) -> list[Campaign]:
    rng = np.random.default_rng(seed)
    return [
        Campaign(
            f"c{c}",
            frozenset(str(i) for i in rng.choice(n_items, size=size, replace=False)),
            float(np.round(rng.lognormal(np.log(0.5), 0.8), 2) + 0.01),
            1e9,  # the simulation asks each shopper once: budgets and caps have tests of their own
        )
        for c in range(count)
    ]


def shopper_offers(
    model: SequentialRecommender, cases: EvalCases, sponsors: dict[int, list[Campaign]], batch: int = 512
) -> tuple[list[list[Offer]], list[set[int]], float]:
    """Per shopper: the sponsored candidates as offers, their targets, and the organic NDCG@10."""
    assert model.ranker is not None
    ranker = model.ranker
    offers, targets, ndcg = [], [], 0.0
    for start in range(0, len(cases.users), batch):
        histories = cases.histories[start : start + batch]
        shortlist = candidates(model, histories, ranker.n_candidates, histories)  # retrieval's
        p = ranker.probabilities(shortlist.features)
        organic = ranker.rerank(shortlist, 10)
        for row, target in enumerate(cases.targets[start : start + batch]):
            wanted = {int(t) for t in target}
            hits = np.flatnonzero(np.isin(organic[row], list(wanted)))
            ndcg += 1.0 / np.log2(hits[0] + 2) if len(hits) else 0.0
            found = []
            for item, chance in zip(shortlist.items[row], p[row], strict=True):
                for campaign in sponsors.get(int(item), []):
                    found.append(Offer(campaign, str(int(item)), float(chance), float(chance)))
            offers.append(found)
            targets.append(wanted)
    return offers, targets, ndcg / max(len(cases.users), 1)


def by_key(
    offers: list[Offer], slots: int, key: Callable[[Offer], float], price: str
) -> list[tuple[Offer, float]]:
    """The order of one baseline (one slot per campaign and per item), each with its per-click price."""
    ranked: list[Offer] = []
    used: set[str] = set()
    for offer in sorted(offers, key=lambda o: (-key(o), o.campaign.campaign_id, o.item_id)):
        if offer.campaign.campaign_id in used or any(r.item_id == offer.item_id for r in ranked):
            continue
        ranked.append(offer)
        used.add(offer.campaign.campaign_id)
    out = []
    for i, offer in enumerate(ranked[:slots]):
        below = ranked[i + 1] if i + 1 < len(ranked) else None
        charge = RESERVE if price == "reserve" or below is None else below.campaign.bid
        out.append((offer, min(offer.campaign.bid, max(RESERVE, charge))))
    return out


def simulate(
    offers: list[list[Offer]], targets: list[set[int]], slots: int, order: str, floor: float
) -> dict[str, Any]:
    shown = clicks = 0
    revenue = 0.0
    for found, wanted in zip(offers, targets, strict=True):
        if order == "expected value":
            placed = [(p.item_id, p.price) for p in run_auction(found, slots, floor, RESERVE)]
        elif order == "bid alone":
            placed = [(o.item_id, c) for o, c in by_key(found, slots, lambda o: o.campaign.bid, "next bid")]
        else:
            placed = [(o.item_id, c) for o, c in by_key(found, slots, lambda o: o.pctr, "reserve")]
        shown += len(placed)
        for item, charge in placed:
            if int(item) in wanted:
                clicks += 1
                revenue += charge
    requests = len(offers)
    return {
        "requests": requests,
        "ads_shown": shown,
        "clicks": clicks,
        "ad_click_rate": round(clicks / max(shown, 1), 6),
        "revenue_per_1000_requests": round(1000 * revenue / max(requests, 1), 4),
        **({"relevance_floor": floor} if order == "expected value" else {}),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifacts", type=Path, required=True)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "datasets" / "amazon-beauty")
    parser.add_argument("--campaigns", type=int, default=300)
    parser.add_argument("--items-per-campaign", type=int, default=30)
    parser.add_argument("--slots", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    os.environ.setdefault("SEMREC_PROGRESS", "0")
    try:
        prepared, model = load_sequential(args.data, args.artifacts)
    except ValueError as error:
        raise SystemExit(str(error)) from None
    if model.ranker is None:
        raise SystemExit(f"{args.artifacts}: the simulation needs lmrec artifacts with a ranking stage")
    campaigns = campaigns_for(prepared.dataset.n_items, args.campaigns, args.items_per_campaign, args.seed)
    sponsors: dict[int, list[Campaign]] = {}
    for campaign in campaigns:
        for item in campaign.items:
            sponsors.setdefault(int(item), []).append(campaign)
    valid = shopper_offers(model, prepared.split.valid, sponsors)
    bid_only = simulate(valid[0], valid[1], args.slots, "bid alone", 0.0)
    choices = {floor: simulate(valid[0], valid[1], args.slots, "expected value", floor) for floor in FLOORS}
    fair = [f for f, r in choices.items() if r["ad_click_rate"] >= bid_only["ad_click_rate"]] or list(FLOORS)
    floor = max(fair, key=lambda f: (choices[f]["revenue_per_1000_requests"], -f))
    print("validation", {"bid alone": bid_only, "floors": choices, "chosen": floor}, flush=True)
    test_offers, test_targets, organic = shopper_offers(model, prepared.split.test, sponsors)
    rows = {
        order: simulate(test_offers, test_targets, args.slots, order, floor)
        for order in ("expected value", "bid alone", "relevance alone")
    }
    for order, row in rows.items():
        print(order, row, flush=True)
    fields = {
        "campaigns": args.campaigns,
        "items_per_campaign": args.items_per_campaign,
        "slots": args.slots,
        "seed": args.seed,
        "reserve_price": RESERVE,
        "relevance_floor_chosen_on_validation": floor,
        "validation": {
            "bid alone": bid_only,
            "expected value by floor": {str(f): r for f, r in choices.items()},
        },
        "test": rows,
        "organic_ndcg@10_test": round(organic, 6),
    }
    publish_test_results(args.data, args.artifacts, prepared, fields, args.out)


if __name__ == "__main__":
    main()
