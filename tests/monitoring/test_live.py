"""``/-/live``: the liveness probe's answer, apart from readiness and health."""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient


def test_alive_while_clickhouse_does_not_answer_since_a_restart_would_not_mend_it(client: TestClient) -> None:
    assert client.get("/-/live").json() == {"status": "alive"}
    client.app.state.resources.db.close()  # type: ignore[attr-defined]
    answer = client.get("/-/live")
    assert answer.status_code == 200 and answer.json() == {"status": "alive"}
    assert answer.headers["cache-control"] == "no-store"
    assert client.get("/-/health").status_code == 503  # monitoring still hears of it


def test_not_alive_once_the_writer_stopped_for_good(client: TestClient) -> None:
    app: Any = client.app
    assert client.portal is not None
    client.portal.call(app.state.resources.writer.close, 1.0)
    answer = client.get("/-/live")
    assert answer.status_code == 503 and answer.json() == {"status": "stopped"}
