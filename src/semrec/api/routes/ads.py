"""Sponsored placements: campaigns (scope admin), a shopper's ads, and the per-campaign report."""

import time
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import Response

from semrec.ads.auction import Campaign
from semrec.api.auth import require
from semrec.api.deps import EngineDep, ServedDep, UserId, Verified, listing
from semrec.api.schemas import ID_PATTERN, AdsOut, CampaignIn, CampaignOut, CampaignsOut, Deleted
from semrec.errors import ApiError
from semrec.online.ads import sponsored_for
from semrec.settings import ServerSettings
from semrec.store.ads import AdTotals, StoredCampaign
from semrec.store.protocol import Store

CampaignId = Annotated[str, PathParam(pattern=ID_PATTERN, description="The campaign's id.")]


def _stamp(moment: datetime | None) -> float | None:
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _moment(stamp: float | None) -> datetime | None:
    return None if stamp is None else datetime.fromtimestamp(stamp, UTC)


def campaign_out(stored: StoredCampaign, totals: dict[str, AdTotals] | None, now: float) -> CampaignOut:
    c = stored.campaign
    today, ever = (totals or {}).get("today", AdTotals()), (totals or {}).get("all", AdTotals())
    return CampaignOut(
        campaign_id=c.campaign_id,
        items=sorted(c.items),
        bid_per_click=c.bid,
        daily_budget=c.daily_budget,
        start=_moment(c.start),
        end=_moment(c.end),
        active=stored.active,
        live=stored.active and c.live(now),
        today={
            "impressions": today.impressions,
            "clicks": today.clicks,
            "conversions": today.conversions,
            "ctr": round(today.ctr, 6),
            "spent": round(today.spent, 6),
            "held": round(today.held, 6),
            "budget_left": round(max(c.daily_budget - today.spent - today.held, 0.0), 6),
        },
        all_time={
            "impressions": ever.impressions,
            "clicks": ever.clicks,
            "conversions": ever.conversions,
            "ctr": round(ever.ctr, 6),
            "spent": round(ever.spent, 6),
        },
    )


def _store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def router(settings: ServerSettings) -> APIRouter:
    routes = APIRouter(tags=["ads"])
    admin = [Depends(require("admin"))]

    @routes.put("/v1/campaigns/{campaign_id}", response_model=CampaignOut, dependencies=admin)
    def put_campaign(
        request: Request, campaign_id: CampaignId, body: CampaignIn, engine: EngineDep
    ) -> CampaignOut:
        for i, item_id in enumerate(body.items):
            if engine.catalog.live_row(item_id) is None:
                raise ApiError(
                    404,
                    f"item {item_id!r} is not in the catalog; the campaign was not stored",
                    where=f"body.items[{i}]",
                    allowed="item ids of the catalog",
                )
        campaign = Campaign(  # the schema holds every rule the campaign checks
            campaign_id,
            frozenset(body.items),
            body.bid_per_click,
            body.daily_budget,
            _stamp(body.start),
            _stamp(body.end),
        )
        store = _store(request)
        store.put_campaign(campaign, body.active)
        engine.catch_up()  # this worker serves it from its next answer; the others follow the log
        return _get(store, campaign_id)

    def _get(store: Store, campaign_id: str) -> CampaignOut:
        stored = store.campaign(campaign_id)
        if stored is None:
            raise ApiError(404, f"campaign {campaign_id!r} does not exist", where="path.campaign_id")
        now = time.time()
        return campaign_out(stored, store.ad_totals(now).get(campaign_id), now)

    @routes.get("/v1/campaigns/{campaign_id}", response_model=CampaignOut, dependencies=admin)
    def get_campaign(request: Request, campaign_id: CampaignId) -> CampaignOut:
        return _get(_store(request), campaign_id)

    @routes.delete("/v1/campaigns/{campaign_id}", response_model=Deleted, dependencies=admin)
    def delete_campaign(request: Request, campaign_id: CampaignId, engine: EngineDep) -> Deleted:
        if not _store(request).delete_campaign(campaign_id):
            raise ApiError(404, f"campaign {campaign_id!r} does not exist", where="path.campaign_id")
        engine.catch_up()
        return Deleted(deleted=True)

    @routes.get("/v1/admin/ads", response_model=CampaignsOut, dependencies=admin)
    def report(request: Request) -> CampaignsOut:
        """Every campaign with today's and all-time impressions, clicks, CTR, conversions and spend."""
        store = _store(request)
        now = time.time()
        totals = store.ad_totals(now)
        return CampaignsOut(
            campaigns=[campaign_out(c, totals.get(c.campaign.campaign_id), now) for c in store.campaigns()]
        )

    @routes.get(
        "/v1/users/{user_id}/ads",
        response_model=AdsOut,
        dependencies=[Depends(require("read"))],
    )
    def ads(
        user_id: UserId,
        served: ServedDep,
        slots: Annotated[int, Query(ge=1, le=len(settings.ads_positions), description="Ads to show.")] = 1,
        verified: Verified = False,
    ) -> Response:
        """Sponsored products for the shopper, best expected value first, each held against its
        campaign's budget: send `impression_id` back with the shopper's click."""
        started, engine = time.perf_counter(), served.engine
        _, personal, head = engine.recommend_with_head(user_id, 10, verified=verified)
        placed = sponsored_for(engine, user_id, head, slots)
        return listing(served, "ads", [], started, personal, placed)

    return routes
