"""One router per resource, in the order the API documents them."""

from fastapi import FastAPI

from semrec.api.routes import admin, ads, events, items, operations, search, users
from semrec.settings import ServerSettings


def add_routes(app: FastAPI, settings: ServerSettings) -> None:
    app.include_router(operations.router())
    app.include_router(events.router(settings))
    app.include_router(users.router(settings))
    app.include_router(items.router(settings))
    app.include_router(search.router(settings))
    app.include_router(ads.router(settings))
    app.include_router(admin.router(settings))
