"""Recording a consent decision: its row in the consent log, durable before a grant is answered.

A grant is answered (and its cookie set) only once the log holds it: no visitor is tracked on a
consent the log cannot prove. And the log holds no grant its visitor was not answered with: a grant
not stored within ``Waits.durable`` is taken back from the writer and answered 503. Only when an
insert that may have stored it failed or is still running after ``Waits.retract`` more seconds, or the
writer stopped (shutdown) with such an insert, does its row stay, followed by an ``undelivered`` row,
which the writer takes even when full or closing. A process that dies before writing that row
(``kill -9``, or ClickHouse hung until the writer's close gave up) leaves a grant in the log that was
answered 503: the one window left open. A refusal or withdrawal takes effect at once even when
ClickHouse is down: its cookie is set and its row waits in the writer (``Recorded.logged`` is False).

Cross-site decisions. A decision answered to a request the browser calls cross-site
(``Sec-Fetch-Site``, other than a top-level navigation) that carried no consent cookie is logged with
its ``undelivered`` twin in the same insert: the browser does not keep the SameSite=Lax cookie of a
cross-site answer, so, as after a 503, the visitor never holds it. Such a page asks again on every
page, and each click would count (gateway/consent/origins.py says why in the gateway's log). The pair
keeps the log honest as proof, the decision made and answered, while the consent statistics and the
ledger sync leave it out as they leave out a 503's pair: for both, what matters is that the visitor
holds no cookie of that decision, so a marker of its own (a new action, a migration) would tell them
nothing more. A visitor who decides again on a same-site page gets a new consent id and counts once.
Only a request without the site's cookie is marked: a browser that sent one would keep the new one
too, and a decision on an id the visitor holds (a withdrawal) must supersede. The answer keeps its
cookie, so the browser's tools say why it was blocked; should a browser keep it after all, its grant row
still proves the consent and a later decision on its id still supersedes it (gateway/rights/sync.py).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from gateway.config.consent import NECESSARY
from gateway.consent.cookie import Consent, CookieProblem, cookie_name, decide
from gateway.consent.log import action_for, log_row, undelivered_row
from gateway.consent.visit import ApiError, Visit
from gateway.rights.ledger import ConsentLedger
from gateway.storage.schema import CONSENT_LOG_TABLE
from gateway.storage.writer import (
    BatchWriter,
    MaybeStored,
    NotDurable,
    Overloaded,
    Rejected,
    Retraction,
    WriterClosed,
)
from gateway.useragent.parse import browser_family
from gateway.web.cors import cross_site

log = logging.getLogger(__name__)
RETRY_AFTER = 5  # seconds, on a 503: ClickHouse is unavailable right now


@dataclass(frozen=True, slots=True)
class Waits:
    """How long a decision waits for the log to hold it (``durable``), and how much longer, when a grant
    gives up, for an insert still under way to end (``retract``). The API hands its own in."""

    durable: float
    retract: float


@dataclass(frozen=True, slots=True)
class Recorded:
    consent: Consent
    logged: bool  # False: the row waits in the writer (ClickHouse was slow or down)


async def record(request: Request, visit: Visit, waits: Waits, *, categories: Any, source: str,
                 language: str = "", banner_version: str = "", withdraw: bool = False) -> Recorded:
    """Log a decision and wait until it is durable. A grant that cannot be logged fails (503); a
    refusal or withdrawal takes effect anyway, since honouring it must not depend on the log."""
    state = request.app.state
    site, previous = visit.site, visit.consent
    ledger: ConsentLedger = state.ledger
    # Every decision on an id gets its own, later second, so the ledger can tell which cookie is older.
    decided_at = (ledger.next_decided_at(previous.consent_id, visit.now, previous.decided_at)
                  if previous is not None else int(visit.now))
    consent = decide(site=site, categories=categories, source=source, now=visit.now, previous=previous,
                     current=visit.problem is not CookieProblem.SUPERSEDED, decided_at=decided_at)
    action = action_for(consent, visit.current, withdraw=withdraw)
    config_hash = visit.banner.config_hash
    shown = f"{banner_version}/{config_hash}" if banner_version else config_hash
    logged_at = int(max(visit.now, float(decided_at)) * 1000) / 1000  # the log keeps milliseconds
    row = log_row(consent, action, banner_version=shown, language=language, country_code=visit.country_code,
                  browser_family=browser_family(request.headers.get("user-agent", "")),
                  instance=state.resources.settings.instance_name, now=logged_at)
    kept = not cross_site(request) or cookie_name(site.id) in request.cookies
    restricts = consent.categories == {NECESSARY}
    if not consent.analytics:  # a restriction holds at once, on this instance, logged or not
        ledger.record(consent.consent_id, decided_at, analytics=False, first=previous is None, at=logged_at)
    try:
        rows = [row] if kept else [row, undelivered_row(row)]
        logged = await log_decision(state, rows, grant=not restricts, waits=waits)
    except (Overloaded, WriterClosed, NotDurable):
        logged = False
    except Rejected:
        state.metrics.count("consent_decision", "rejected")
        raise ApiError(400, "the decision could not be stored") from None
    if not logged:
        state.metrics.count("consent_decision", f"{action}-not-logged")
        if restricts:
            return Recorded(consent, logged=False)
        log.warning("a consent grant was answered 503: ClickHouse is unavailable or slow")
        raise ApiError(503, "the decision could not be recorded right now; please try again",
                       retry_after=RETRY_AFTER) from None
    state.metrics.count("consent_decision", action if kept else f"{action}-cross-site")
    if consent.analytics:  # a grant holds once it is logged: only then has the visitor its cookie
        ledger.record(consent.consent_id, decided_at, analytics=True, first=previous is None, at=logged_at)
    return Recorded(consent, logged=True)


async def log_decision(state: Any, rows: list[tuple[Any, ...]], *, grant: bool, waits: Waits) -> bool:
    """Submit a decision's row (with its ``undelivered`` twin, if it has one); True once durable. A
    refusal's rows not durable in time wait in the writer. A grant's are taken back, so the log shows no
    grant its visitor was answered 503 for; if an insert may have stored them all the same, an
    ``undelivered`` row follows."""
    writer: BatchWriter = state.resources.writer
    accepted = writer.submit(CONSENT_LOG_TABLE, rows, urgent=True)
    try:
        await asyncio.wait_for(asyncio.shield(accepted), waits.durable)
        return True
    except TimeoutError:
        if not grant:
            return False
        outcome = await writer.retract(CONSENT_LOG_TABLE, accepted, wait=waits.retract)
    except MaybeStored:  # the writer is closing, and an insert that may have stored the row never ended
        if not grant:
            return False
        outcome = Retraction.KEPT
    if outcome is Retraction.KEPT:
        state.metrics.count("consent_decision", f"{rows[0][3]}-undelivered")
        try:
            # Forced: taken even when a hang under tracking load has filled the writer to max_pending,
            # and while it closes. One row per grant the writer already holds and this request answers
            # 503 for, so bounded by those (each taken under max_pending) and the API's concurrency.
            writer.submit(CONSENT_LOG_TABLE, [undelivered_row(rows[0])], urgent=True, force=True)
        except WriterClosed:  # only once the writer's last attempt is over: the crash window above
            log.error("a grant answered 503 may stay in the consent log: the writer took no undelivered row")
    return outcome is Retraction.STORED
