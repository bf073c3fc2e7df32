"""Story: Kubernetes (or systemd, or Docker) stops a gateway with SIGTERM in the middle of the traffic.

The gateway stops accepting, answers the hits in flight, inserts what it holds and records what
ClickHouse took, within GATEWAY_SHUTDOWN_TIMEOUT, and exits 0: every hit it answered is in ClickHouse
when it is gone, and its next start has nothing to replay. With ClickHouse down at that moment, it
or hanging (taking inserts and never answering), it still exits within the timeout, and the answered
hits wait in its spool for the next start. As uvicorn
does, the process ends by the signal it was sent once its shutdown is complete (status 143 in a shell),
which is how an orchestrator tells a stop it asked for from a crash.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

from tests.e2e.gateway_process import Gateway, free_port, running_gateway
from tests.support.clickhouse_standin import running_standin
from tests.support.hanging_proxy import HangingProxy
from tests.support.load import HitLoad, grant, stored_markers, tally


def _env(tmp_path: Path, city_db: Path, url: str, timeout: str) -> dict[str, str]:
    return {"GATEWAY_DATA_DIR": str(tmp_path / "data"), "GATEWAY_GEOIP_CITY_DB": str(city_db),
            "GATEWAY_SECRET_KEYS": "g" * 40, "GATEWAY_CLICKHOUSE_URL": url,
            # A long timed flush: what the stop writes is what it flushes itself.
            "GATEWAY_WRITER_FLUSH_INTERVAL": "30", "GATEWAY_SHUTDOWN_TIMEOUT": timeout,
            "GATEWAY_LOG_LEVEL": "INFO"}


def _terminate(gateway: Gateway) -> tuple[int, float]:
    """SIGTERM, as an orchestrator sends it; (exit code, seconds until the process was gone)."""
    assert gateway.process is not None
    asked = time.monotonic()
    gateway.process.send_signal(signal.SIGTERM)
    code = gateway.process.wait(timeout=60)
    return code, time.monotonic() - asked


def test_sigterm_mid_load_answers_in_flight_hits_and_stores_every_answered_one_before_the_exit(
        tmp_path: Path, city_db: Path) -> None:
    with running_standin(tmp_path / "clickhouse") as standin:
        url = f"http://default:@{standin.host}:{standin.port}/stopping"
        env = _env(tmp_path, city_db, url, "20")
        port = free_port()
        with running_gateway(env, tmp_path / "first.log", port=port) as gateway, \
                HitLoad(gateway.base, grant(gateway.base), tag="sigterm", concurrency=8) as load:
            load.wait_for(300)
            code, _ = _terminate(gateway)
            result = load.stop()
        assert code == -signal.SIGTERM and "Application shutdown complete" in gateway.log, gateway.log
        counts = tally(result, stored_markers(url, "sigterm"))
        assert counts.acknowledged >= 300 and counts.lost == 0 and counts.duplicates == 0, counts.line()
        assert "Traceback" not in gateway.log and "ERROR" not in gateway.log
        # The stop recorded every acknowledgement: the next start replays nothing.
        with running_gateway(env, tmp_path / "second.log", port=port) as again:
            time.sleep(0.5)
        assert "replayed" not in again.log
        assert tally(result, stored_markers(url, "sigterm")).duplicates == 0


def test_sigterm_while_clickhouse_is_down_exits_within_the_timeout_and_keeps_the_hits_spooled(
        tmp_path: Path, city_db: Path) -> None:
    with running_standin(tmp_path / "clickhouse") as standin:
        url = f"http://default:@{standin.host}:{standin.port}/stopping"
        env = _env(tmp_path, city_db, url, "2") | {"GATEWAY_WRITER_FLUSH_INTERVAL": "0.2"}
        port = free_port()
        with running_gateway(env, tmp_path / "first.log", port=port) as gateway, \
                HitLoad(gateway.base, grant(gateway.base), tag="down", concurrency=4) as load:
            load.wait_for(50)
            standin.kill()
            load.wait_for(load.acknowledged + 100)  # answered from the spool: ClickHouse is gone
            code, took = _terminate(gateway)
            result = load.stop()
        assert code == -signal.SIGTERM and "Application shutdown complete" in gateway.log, gateway.log
        # 2 s of timeout, plus the process's own exit and one insert attempt already under way.
        assert took < 2 + 8, f"the stop took {took:.1f} s"
        standin.restart()
        with running_gateway(env, tmp_path / "second.log", port=port) as again:
            deadline = time.monotonic() + 30
            while tally(result, stored_markers(url, "down")).lost and time.monotonic() < deadline:
                time.sleep(0.5)
        assert "replayed" in again.log
        counts = tally(result, stored_markers(url, "down"))
        assert counts.lost == 0, counts.line()


def test_sigterm_while_clickhouse_hangs_keeps_to_the_timeout_and_loses_no_answered_hit(
        tmp_path: Path, city_db: Path) -> None:
    with running_standin(tmp_path / "clickhouse") as standin, HangingProxy(standin.port) as proxy:
        direct = f"http://default:@{standin.host}:{standin.port}/hanging"
        env = _env(tmp_path, city_db, f"http://default:@{standin.host}:{proxy.port}/hanging", "2")
        port = free_port()
        with running_gateway(env, tmp_path / "first.log", port=port) as gateway, \
                HitLoad(gateway.base, grant(gateway.base), tag="hung", concurrency=4) as load:
            load.wait_for(50)
            proxy.hang()  # ClickHouse takes the inserts and never answers: the stop's last flush hangs
            load.wait_for(load.acknowledged + 100)
            code, took = _terminate(gateway)
            result = load.stop()
        assert code == -signal.SIGTERM and "Application shutdown complete" in gateway.log, gateway.log
        # 2 s of timeout, the last attempt's second and the process's own exit: not the 30 s read timeout.
        assert took < 2 + 6, f"the stop took {took:.1f} s"
        assert "Task exception was never retrieved" not in gateway.log
        proxy.release()
        with running_gateway(env | {"GATEWAY_CLICKHOUSE_URL": direct, "GATEWAY_WRITER_FLUSH_INTERVAL": "0.2"},
                             tmp_path / "second.log", port=port):
            deadline = time.monotonic() + 30
            while tally(result, stored_markers(direct, "hung")).lost and time.monotonic() < deadline:
                time.sleep(0.5)
        # At least once: a hung insert may land after all, and its rows are replayed too.
        assert tally(result, stored_markers(direct, "hung")).lost == 0
