"""The dashboard's URLs and the state it keeps on the application.

Every stats page has its JSON twin at the same path with ``.json`` (``/dashboard/1`` and
``/dashboard/1.json``); full reports also have ``.csv``. Site ids are numbers, so ``.json`` after
one cannot be mistaken for part of it.
"""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.applications import Starlette
from starlette.routing import BaseRoute, Route

from gateway.config.settings import Settings
from gateway.dashboard import annotations_views, auth_views, requests_views, views, visits_views
from gateway.dashboard.pages import environment, load_assets, static_asset
from gateway.dashboard.sessions import Sessions
from gateway.dashboard.throttle import LoginThrottle
from gateway.dashboard.users import UserStore, users_path

GET = ["GET", "HEAD"]


def routes() -> list[BaseRoute]:
    return [
        Route("/dashboard", views.sites_index, methods=GET),
        Route("/dashboard/", views.sites_index, methods=GET),
        Route("/dashboard.json", views.sites_index, methods=GET),
        Route("/dashboard/login", auth_views.login, methods=["GET", "HEAD", "POST"]),
        Route("/dashboard/logout", auth_views.logout, methods=["POST"]),
        Route("/dashboard/shared", auth_views.shared, methods=GET),
        Route("/dashboard/static/{name}", static_asset, methods=GET),
        Route("/dashboard/{site:int}", views.overview, methods=GET),
        Route("/dashboard/{site:int}.json", views.overview, methods=GET),
        Route("/dashboard/{site:int}/reports/{report}", views.report, methods=GET),
        Route("/dashboard/{site:int}/realtime", views.realtime_page, methods=GET),
        Route("/dashboard/{site:int}/realtime.json", views.realtime_page, methods=GET),
        Route("/dashboard/{site:int}/visits", visits_views.visits_page, methods=GET),
        Route("/dashboard/{site:int}/visits.json", visits_views.visits_page, methods=GET),
        Route("/dashboard/{site:int}/annotations", annotations_views.annotations_page, methods=GET),
        Route("/dashboard/{site:int}/annotations", annotations_views.create, methods=["POST"]),
        Route("/dashboard/{site:int}/annotations.json", annotations_views.annotations_page, methods=GET),
        Route("/dashboard/{site:int}/annotations/{note}", annotations_views.update, methods=["POST"]),
        Route("/dashboard/{site:int}/annotations/{note}/delete", annotations_views.remove, methods=["POST"]),
        Route("/dashboard/{site:int}/consent", views.consent_page, methods=GET),
        Route("/dashboard/{site:int}/consent.json", views.consent_page, methods=GET),
        Route("/dashboard/{site:int}/requests", requests_views.requests_page, methods=GET),
        Route("/dashboard/{site:int}/requests.json", requests_views.requests_page, methods=GET),
        Route("/dashboard/{site:int}/requests/export", requests_views.export, methods=["POST"]),
        Route("/dashboard/{site:int}/requests/erase", requests_views.erase, methods=["POST"]),
    ]


def setup(app: Starlette, settings: Settings) -> None:
    """Put the dashboard's long-lived parts on ``app.state`` (settings carry the signing keys)."""
    app.state.users = UserStore(users_path(settings))
    app.state.sessions = Sessions(settings.secret_keys)
    app.state.throttle = LoginThrottle()
    app.state.templates = environment()
    app.state.dashboard_assets = load_assets()
    app.state.clock = lambda: datetime.now(UTC)
