"""The access log names routes, not paths; no log record keeps a URL's query string."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from gateway.app import create_app
from gateway.web.accesslog import QUERY_REMOVED, QueryStringFilter, configure_logging, strip_queries
from tests.conftest import SettingsFactory

ORIGIN = "https://shop.example.com"
TOKEN = "site-token-for-the-proof-api-0123"
SITE = f"""
[[sites]]
id = 3
name = "Parts"
origins = ["{ORIGIN}"]
token = "{TOKEN}"
"""
CONSENT_ID = "6f1c2a4e-93b7-4d21-8e55-0c9d7b3a1f42"
# urllib3's warning while ClickHouse is down, as logged (its URL carries the query's parameters).
URLLIB3_MSG = "Retrying (%r) after connection broken by '%r': %s"
URL = ("/?date_time_input_format=best_effort&wait_end_of_query=1&database=gw"
       f"&param_cid={CONSENT_ID}&param_f=secret-campaign-4711&query_id=f555d52a")


@pytest.fixture
def client(make_settings: SettingsFactory, clickhouse_url: str, city_db: Path) -> Iterator[TestClient]:
    env = {"GATEWAY_CLICKHOUSE_URL": clickhouse_url, "GATEWAY_GEOIP_CITY_DB": str(city_db)}
    settings = make_settings(env, SITE)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def access_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "gateway.access"]


def test_routes_with_identifiers_are_logged_as_their_template(client: TestClient,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="gateway.access")
    grant = client.post("/consent?site=3", json={"categories": ["analytics"], "policy_version": "1"},
                        headers={"Origin": ORIGIN})
    consent_id = grant.json()["consent_id"]
    proof = client.get(f"/api/consents/{consent_id}", headers={"Authorization": f"Bearer {TOKEN}"})
    assert proof.status_code == 200
    client.post(f"/api/consents/{consent_id}")  # 405: the route matched, the method did not
    client.get(f"/api/consents/{consent_id}/data", headers={"Authorization": f"Bearer {TOKEN}"})
    lines = access_lines(caplog)
    assert any(line.startswith("GET /api/consents/{consent_id} 200 ") for line in lines), lines
    assert any(line.startswith("POST /api/consents/{consent_id} 405 ") for line in lines), lines
    assert any(line.startswith("GET /api/consents/{consent_id}/data ") for line in lines), lines
    assert any(line.startswith("POST /consent 200 ") for line in lines), lines
    assert consent_id not in caplog.text


def test_a_path_no_route_matched_is_not_logged(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="gateway.access")
    client.get(f"/api/consent/{CONSENT_ID}")  # a typo: the path may carry anything
    assert access_lines(caplog)[-1].startswith("GET -unmatched- 404 ")
    assert CONSENT_ID not in caplog.text


def record(msg: str, args: tuple[object, ...] | None, exc: BaseException | None = None) -> logging.LogRecord:
    exc_info = (type(exc), exc, exc.__traceback__) if exc is not None else None
    return logging.LogRecord("urllib3.connectionpool", logging.WARNING, __file__, 1, msg, args, exc_info)


def test_query_strings_leave_messages_arguments_and_tracebacks() -> None:
    handler_output = io.StringIO()
    handler = logging.StreamHandler(handler_output)
    handler.addFilter(QueryStringFilter())
    handler.handle(record(URLLIB3_MSG, ("Retry(total=0)", "NewConnectionError()", URL)))
    try:
        raise ConnectionError(f"HTTPConnectionPool(host='ch', port=8123): Max retries exceeded with url: "
                              f"{URL} (Caused by NewConnectionError)")
    except ConnectionError as exc:
        handler.handle(record("statistics query failed: %s", (exc,), exc))
    text = handler_output.getvalue()
    assert CONSENT_ID not in text and "secret-campaign-4711" not in text
    assert f"after connection broken by ''NewConnectionError()'': /{QUERY_REMOVED}\n" in text
    assert f"with url: /{QUERY_REMOVED} (Caused by" in text


@pytest.mark.parametrize("text", [
    "is `consent-gateway serve` running? embedded ClickHouse allows one process",
    "GET /api/consents/{consent_id} 200 1.0ms",
    "what? x=1",
])
def test_text_without_a_query_string_is_left_alone(text: str) -> None:
    assert strip_queries(text) == text


@pytest.mark.parametrize(("text", "expected"), [
    ("http://ch.internal:8123?param_x=1 refused", f"http://ch.internal:8123{QUERY_REMOVED} refused"),
    ("url: '/?a=1&b=%27x%27'", f"url: '/{QUERY_REMOVED}'"),
    ("/dashboard/1.json?utm_campaign=x", f"/dashboard/1.json{QUERY_REMOVED}"),
])
def test_query_strings_are_cut(text: str, expected: str) -> None:
    assert strip_queries(text) == expected


@contextmanager
def root_logging() -> Iterator[logging.Logger]:
    """The root logger, given back as it was (handlers and level) after configure_logging changed it."""
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    try:
        yield root
    finally:
        for handler in root.handlers:
            if handler not in saved_handlers:
                handler.close()
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)


def test_configure_logging_filters_every_handler_of_the_root_logger() -> None:
    with root_logging() as root:
        configure_logging("warning")
        assert root.handlers
        assert all(any(isinstance(f, QueryStringFilter) for f in h.filters) for h in root.handlers)


def test_json_logs_are_one_object_per_line_and_as_clean_as_the_text_ones() -> None:
    stream = io.StringIO()
    with root_logging() as root:
        configure_logging("info", "json")
        for handler in root.handlers:
            handler.setStream(stream)  # type: ignore[attr-defined]
        logging.getLogger("urllib3.connectionpool").warning(
            "Retrying after %s: http://ch.internal:8123/?param_cid=7d1a0e3c&query=INSERT", "a timeout")
        try:
            raise ConnectionError("refused http://ch.internal:8123/?param_uid=u-1")
        except ConnectionError:
            logging.getLogger("gateway.storage.writer").exception("insert failed")
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert set(first) == {"time", "level", "logger", "message"} and first["level"] == "WARNING"
    assert first["logger"] == "urllib3.connectionpool" and first["time"].endswith("+00:00")
    assert first["message"] == f"Retrying after a timeout: http://ch.internal:8123/{QUERY_REMOVED}"
    assert second["message"] == "insert failed" and "ConnectionError" in second["traceback"]
    assert "7d1a0e3c" not in stream.getvalue() and "u-1" not in stream.getvalue()
