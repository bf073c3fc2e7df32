"""The gateway's end of the channel: a Unix socket server that runs operations in the serving process.

Opened by the lifespan once resources are ready, closed first at shutdown. One connection may send
several requests, each one line of at most ``MAX_REQUEST`` bytes; whatever a request or an operation
does wrong is answered as an error, and the server goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import os
import secrets
import socket
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.config.settings import Settings
from gateway.control.local import addressable, socket_path, token_path
from gateway.control.registry import ControlError, OpContext, one_line, operations, perform
from gateway.storage.clickhouse import Database

log = logging.getLogger(__name__)

MAX_REQUEST = 64 * 1024  # bytes in one request line
IDLE_TIMEOUT = 30.0  # seconds a connection may wait before sending its next request
CLOSE_GRACE = 10.0  # seconds running operations get to finish when the gateway stops


@dataclass(eq=False)
class ControlChannel:
    """Made by ``open_control_channel``; ``close`` removes the socket and the token."""

    context: OpContext
    path: Path
    token_file: Path
    token: str
    inode: int
    server: asyncio.Server | None = None
    closing: bool = False
    _idle: set[asyncio.Task[Any]] = field(default_factory=set)
    _busy: set[asyncio.Task[Any]] = field(default_factory=set)

    async def close(self) -> None:
        self.closing = True
        if self.server is not None:
            self.server.close()
        for task in self._idle:
            task.cancel()
        if self._busy:
            await asyncio.wait(self._busy, timeout=CLOSE_GRACE)
        tasks = (*self._idle, *self._busy)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self.server is not None:
            await self.server.wait_closed()
        with contextlib.suppress(OSError):
            if self.path.lstat().st_ino == self.inode:  # not a socket another gateway put there since
                self.path.unlink()
        with contextlib.suppress(OSError):
            if self.token_file.read_text(encoding="utf-8").strip() == self.token:
                self.token_file.unlink()

    async def serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._idle.add(task)
        try:
            while True:
                try:
                    line = await asyncio.wait_for(reader.readline(), IDLE_TIMEOUT)
                except ValueError:  # the line outgrew the reader's limit
                    await _send(writer, {"ok": False, "error": f"the request is larger than {MAX_REQUEST} "
                                                               "bytes"})
                    break
                if not line or self.closing:
                    break
                self._idle.discard(task)
                self._busy.add(task)
                answer = await self.answer(line)
                self._busy.discard(task)
                self._idle.add(task)
                await _send(writer, answer)
        except (TimeoutError, ConnectionError):
            pass  # a client that went quiet or away
        finally:
            self._idle.discard(task)
            self._busy.discard(task)
            writer.close()

    async def answer(self, line: bytes) -> dict[str, Any]:
        try:
            request = json.loads(line)
        except (ValueError, RecursionError):
            return {"ok": False, "error": "the request is not JSON"}
        if not isinstance(request, dict) or not isinstance(request.get("op"), str):
            return {"ok": False, "error": 'send {"op": NAME, "args": {...}, "token": TOKEN} on one line'}
        token = request.get("token")
        presented = token.encode("utf-8", "surrogatepass") if isinstance(token, str) else b""
        if not hmac.compare_digest(presented, self.token.encode()):
            return {"ok": False, "error": f"wrong or missing token: it is in {self.token_file}"}
        name = request["op"][:64]
        started = time.perf_counter()
        try:
            result = await perform(self.context, request["op"], request.get("args", {}))
        except ControlError as exc:
            log.info("control: %s refused", name)
            return {"ok": False, "error": str(exc)}
        except Exception as exc:
            log.exception("control: %s failed", name)
            return {"ok": False, "error": f"{name} failed in the gateway: {one_line(exc)} (its log has more)"}
        log.info("control: %s done in %.3f s", name, time.perf_counter() - started)
        return {"ok": True, "result": result}


async def _send(writer: asyncio.StreamWriter, answer: dict[str, Any]) -> None:
    writer.write(json.dumps(answer).encode() + b"\n")
    await writer.drain()


async def open_control_channel(settings: Settings, db: Database, state: Any) -> ControlChannel | None:
    """Listen on ``DATA_DIR/control.sock`` when ClickHouse is embedded. None, and a log line saying why,
    when it is a server, another gateway answers there, or the socket cannot be made."""
    if not db.target.embedded:
        return None
    path, token_file = socket_path(settings), token_path(settings)
    known = operations()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        if not _claim(path):
            listener.close()
            return None
        token = secrets.token_urlsafe(32)
        _write_private(token_file, token)
        with addressable(path) as address:
            listener.bind(address)
        # Before listen(): until then a connection is refused, so the looser mode is never usable.
        path.chmod(0o600)
        channel = ControlChannel(context=OpContext(settings=settings, db=db, state=state), path=path,
                                 token_file=token_file, token=token, inode=path.lstat().st_ino)
        channel.server = await asyncio.start_unix_server(channel.serve_connection, sock=listener,
                                                         limit=MAX_REQUEST)
    except OSError as exc:
        listener.close()
        log.warning("control socket %s not opened (%s): while the gateway serves, CLI commands that read "
                    "ClickHouse cannot reach it", path, exc.strerror or exc)
        return None
    log.info("control channel on %s: %d operation(s)", path, len(known))
    return channel


def _claim(path: Path) -> bool:
    """Whether ``path`` is free for this gateway's socket, after removing one a stopped gateway left."""
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return True
    if not stat.S_ISSOCK(mode):
        log.warning("%s is not a socket: the control channel stays closed until it is removed", path)
        return False
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(2.0)
    try:
        with addressable(path) as address:
            probe.connect(address)
    except ConnectionRefusedError:
        path.unlink(missing_ok=True)
        log.info("removed %s, left by a gateway that stopped without closing it", path)
        return True
    except FileNotFoundError:
        return True
    finally:
        probe.close()
    log.warning("another gateway answers on %s: this one opens no control channel", path)
    return False


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` readable by this user only, whole: a reader never sees half a token."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # a leftover temporary file keeps its old mode through O_CREAT
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text + "\n")
    temporary.replace(path)
