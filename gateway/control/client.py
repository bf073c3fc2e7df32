"""``run_operation``: the CLI's way to run an operation, through the gateway or on its own connection."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sys
import tempfile
from collections.abc import Iterator
from typing import Any

from gateway.config.settings import Settings
from gateway.control.local import addressable, socket_path, token_path
from gateway.control.registry import ControlError, OpContext, one_line, operations, perform
from gateway.storage.clickhouse import ClickHouseUrlError, Target, connect

log = logging.getLogger(__name__)

ANSWER_TIMEOUT = 900.0  # seconds the CLI waits for the gateway: an erasure may rewrite large tables
HELD = ("Cannot lock file", "Another server instance", "EmbeddedServer")  # chDB: the folder is taken


async def run_operation(settings: Settings, name: str, args: dict[str, Any]) -> Any:
    """Run ``name``: in the gateway serving ``settings.data_dir`` when its socket answers, else here on
    a ClickHouse connection of its own. Every failure the user can meet is a one-line ControlError."""
    try:
        target = settings.clickhouse_target
    except ClickHouseUrlError as exc:
        raise ControlError(f"GATEWAY_CLICKHOUSE_URL: {exc}") from None
    if target.embedded:
        answered, result = await _ask_gateway(settings, name, args)
        if answered:
            return result
    return await _run_here(settings, target, name, args)


async def _ask_gateway(settings: Settings, name: str, args: dict[str, Any]) -> tuple[bool, Any]:
    path = socket_path(settings)
    try:
        with addressable(path) as address:
            reader, writer = await asyncio.open_unix_connection(address)
    except (FileNotFoundError, ConnectionRefusedError):
        return False, None  # no gateway, or the socket of one that crashed: the engine is free
    except PermissionError:
        raise ControlError(f"{path} belongs to another user: run this command as the user the gateway "
                           "runs as") from None
    except OSError as exc:
        raise ControlError(f"cannot reach the gateway on {path}: {exc.strerror or exc}") from None
    try:
        writer.write(json.dumps({"op": name, "args": args, "token": _read_token(settings)}).encode() + b"\n")
        writer.write_eof()
        raw = await asyncio.wait_for(reader.read(), ANSWER_TIMEOUT)
    except TimeoutError:
        raise ControlError(f"the gateway did not answer {name} within {ANSWER_TIMEOUT:.0f} s") from None
    except OSError as exc:
        raise ControlError(f"the control connection to the gateway failed: {exc.strerror or exc}") from None
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    try:
        answer = json.loads(raw)
    except ValueError:
        raise ControlError("the gateway closed the control connection without answering (is it "
                           "stopping?)") from None
    if isinstance(answer, dict) and answer.get("ok") is True:
        return True, answer.get("result")
    error = answer.get("error") if isinstance(answer, dict) else None
    raise ControlError(str(error or "the gateway refused the request"))


def _read_token(settings: Settings) -> str:
    path = token_path(settings)
    try:
        return path.read_text(encoding="utf-8").strip()
    except PermissionError:
        raise ControlError(f"cannot read {path}: run this command as the user the gateway runs as") from None
    except OSError as exc:
        raise ControlError(f"a gateway answers on {socket_path(settings)} but {path} cannot be read: "
                           f"{exc.strerror or exc}") from None


async def _run_here(settings: Settings, target: Target, name: str, args: dict[str, Any]) -> Any:
    if name not in operations():
        raise ControlError(f"unknown operation {name[:64]!r}")
    native: list[str] = []
    try:
        with _native_stderr(native) if target.embedded else contextlib.nullcontext():
            db = await asyncio.to_thread(connect, settings.clickhouse_target)
    except Exception as exc:
        raise ControlError(_unreachable(settings, target, exc, "".join(native))) from None
    try:
        return await perform(OpContext(settings=settings, db=db, state=None), name, args)
    except ControlError:
        raise
    except Exception as exc:
        log.debug("operation %s failed", name, exc_info=True)
        hint = " (has `consent-gateway migrate` run?)" if "UNKNOWN_TABLE" in str(exc) else ""
        raise ControlError(f"{name} failed: {one_line(exc)}{hint}") from None
    finally:
        await asyncio.to_thread(db.close)


def _unreachable(settings: Settings, target: Target, exc: Exception, native: str) -> str:
    said = f"{exc} {native}"
    if target.embedded and any(words in said for words in HELD):
        return (f"the embedded ClickHouse in {target.path} is held by another process and no gateway "
                f"answers on {socket_path(settings)}: if `consent-gateway serve` is starting, try again in a "
                "moment; if it serves another GATEWAY_DATA_DIR, run this command with that one; otherwise "
                "stop the process that holds it")
    return f"cannot reach ClickHouse at {target.display}: {one_line(exc)}"


@contextlib.contextmanager
def _native_stderr(captured: list[str]) -> Iterator[None]:
    """chDB's engine writes its own errors to file descriptor 2 ("Cannot lock file …"): they are kept
    in ``captured`` so that a failure reads as one line, and passed on when nothing failed."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            captured.append(sink.read().decode("utf-8", "replace"))
        sys.stderr.write(captured[-1])
