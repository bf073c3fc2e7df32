"""Logging in and out, and opening a share link.

The login form is a plain POST (no JavaScript needed), checked for its CSRF token, throttled per
user name and per client before the password is even looked at, and answered the same way for an
unknown user and a wrong password. The session is a signed cookie; changing a password ends every
session of that user (the cookie carries a fingerprint of the password hash).
"""

from __future__ import annotations

import asyncio
import logging
import time
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response

from gateway.dashboard.access import clear_cookie, csrf_cookie, safe_next, set_cookie, viewer
from gateway.dashboard.pages import error_page, redirect, render
from gateway.dashboard.sessions import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    SESSION_MAX_AGE,
    SHARE_COOKIE,
    SHARE_MAX_AGE,
    Sessions,
)
from gateway.dashboard.throttle import LoginThrottle
from gateway.dashboard.users import UsersFileError, UserStore
from gateway.proxy import client_ip

log = logging.getLogger(__name__)
MAX_FORM_BYTES = 8192
USERS_FILE_DOWN = "Logins are unavailable: the dashboard users file cannot be read (see the server log)."


async def read_form(request: Request) -> dict[str, str] | None:
    """A small urlencoded form, or None when it is too large or not a form."""
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return None
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return None
    try:
        return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=20))
    except (UnicodeDecodeError, ValueError):
        return None


def _csrf_ok(request: Request, form: dict[str, str]) -> bool:
    sessions: Sessions = request.app.state.sessions
    return sessions.check_csrf(request.cookies.get(CSRF_COOKIE), form.get("csrf"))


def _client_key(request: Request) -> str:
    # Only ever handed to the throttle, which keeps a keyed hash of it in memory.
    return client_ip(request.scope, request.app.state.trusted_proxies) or "unknown"


async def login(request: Request) -> Response:
    state = request.app.state
    store: UserStore = state.users
    if request.method == "GET":
        current = viewer(request, None, api=False)
        if current is not None and current.user is not None:
            return redirect(safe_next(request.query_params.get("next")))
        return login_form(request, next_url=safe_next(request.query_params.get("next")))
    form = await read_form(request)
    if form is None:
        return error_page(request, 400, "The login form could not be read.")
    next_url = safe_next(form.get("next"))
    username = form.get("username", "").strip()[:64]
    if not _csrf_ok(request, form):
        return login_form(request, next_url=next_url, username=username, status=403,
                          error="The form expired. Please try again.")
    throttle: LoginThrottle = state.throttle
    client, now = _client_key(request), time.monotonic()
    wait = throttle.reserve(username, client, now)
    if wait > 0:
        response = login_form(request, next_url=next_url, username=username, status=429,
                              retry_after=int(wait) + 1)
        response.headers["Retry-After"] = str(int(wait) + 1)
        return response
    try:
        user = await asyncio.to_thread(store.verify, username, form.get("password", ""))
    except UsersFileError:
        throttle.release(username, client, now)
        return error_page(request, 503, USERS_FILE_DOWN)
    if user is None:  # the attempt was counted as a failure by reserve()
        # Neither the name (it may be a password typed into the wrong box) nor the client is logged.
        log.info("dashboard login failed")
        return login_form(request, next_url=next_url, username=username, status=401,
                          error="Wrong user name or password.")
    throttle.succeeded(username, client, now)
    sessions: Sessions = state.sessions
    response = redirect(next_url)
    set_cookie(request, response, SESSION_COOKIE, sessions.issue(user), SESSION_MAX_AGE)
    clear_cookie(request, response, SHARE_COOKIE)
    # A new CSRF secret per session: a token seen before logging in is worth nothing after.
    set_cookie(request, response, CSRF_COOKIE, sessions.new_csrf_cookie(), None)
    return response


def login_form(request: Request, *, next_url: str, username: str = "", status: int = 200,
               error: str | None = None, retry_after: int | None = None) -> Response:
    store: UserStore = request.app.state.users
    try:
        no_users = not store.users()
    except UsersFileError:
        return error_page(request, 503, USERS_FILE_DOWN)
    return render(request, "login.html", {"error": error, "username": username, "next": next_url,
                                          "retry_after": retry_after, "no_users": no_users},
                  status=status, viewer_=None)


async def logout(request: Request) -> Response:
    form = await read_form(request)
    if form is None or not _csrf_ok(request, form):
        return error_page(request, 403, "The form expired. Reload the page and try again.")
    current = viewer(request, None, api=False)
    if current is not None and current.user is not None:
        store: UserStore = request.app.state.users
        try:
            await asyncio.to_thread(store.end_sessions, current.user.name)
        except (OSError, UsersFileError) as exc:  # the cookie is still cleared below
            log.warning("could not end the sessions of a dashboard user: %s", exc)
    response = redirect("/dashboard/login")
    for name in (SESSION_COOKIE, SHARE_COOKIE, CSRF_COOKIE):
        clear_cookie(request, response, name)
    return response


async def shared(request: Request) -> Response:
    """``/dashboard/shared?key=TOKEN``: trade a share link's key for a cookie, then show its site.
    The key is in the query string, which the access log never writes."""
    store: UserStore = request.app.state.users
    try:
        link = store.find_share(request.query_params.get("key", ""))
    except UsersFileError:
        return error_page(request, 503, USERS_FILE_DOWN)
    if link is None:
        return error_page(request, 404, "This share link is not valid (it may have been revoked).")
    sessions: Sessions = request.app.state.sessions
    response = redirect(f"/dashboard/{link.site_id}", shared=True)
    set_cookie(request, response, SHARE_COOKIE, sessions.issue_share(link), SHARE_MAX_AGE)
    value, _ = csrf_cookie(request)
    set_cookie(request, response, CSRF_COOKIE, value, None)
    return response
