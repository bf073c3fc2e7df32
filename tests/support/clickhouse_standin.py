"""TEST STAND-IN for clickhouse-server -- test infrastructure only, NOT product code.

No ClickHouse server binary can be installed where the tests run, so this module
serves the slice of ClickHouse's HTTP interface that the clickhouse-connect HTTP
client uses, and executes every statement on chDB (the ClickHouse engine,
in-process) against an on-disk database directory that survives restarts.

Served:
  * ``GET /ping`` (and a bare ``GET /``) -> ``Ok.``
  * queries in the ``query`` URL parameter and/or the request body (the two are
    joined with a newline, as ClickHouse does), ``param_<name>`` server-side
    parameter binding, ``database``, ``default_format`` (TabSeparated otherwise)
    and any other URL parameter applied as a ClickHouse setting; the
    multipart/form-data variant the client switches to for binds over 4 KB;
  * ``INSERT ... FORMAT <fmt>`` followed by data (any format chDB reads; in
    practice Native), the body chunked or not and compressed per
    ``Content-Encoding``: lz4 (concatenated frames), zstd, gzip, deflate, none;
  * response headers X-ClickHouse-Query-Id, -Summary, -Timezone, -Format and,
    on failure, X-ClickHouse-Exception-Code with a ``Code: N. DB::Exception``
    body (HTTP 400/404/500), which clickhouse-connect turns into DatabaseError.

Deliberately NOT implemented:
  * authentication -- any user/password (Basic auth, X-ClickHouse-* headers) is
    accepted and ignored;
  * sessions -- ``session_id`` is ignored, each request runs on a fresh chDB
    connection, so SET/USE/temporary tables do not carry over between requests;
  * response compression -- replies are always uncompressed, which the client
    accepts; ClickHouse's native ``compress``/``decompress`` framing; brotli;
  * progress headers, streaming of results (they are buffered), external data
    tables, ``client_protocol_version`` (ignored, so the client's probe falls
    back to protocol 0), query cancellation, readonly mode for GET requests.

Run as a subprocess (chDB binds one database path per process)::

    python -m tests.support.clickhouse_standin --path DIR --port 0

It prints ``listening on 127.0.0.1:PORT`` once ready and serves until SIGTERM.
Tests use :class:`StandIn` / :func:`running_standin` instead.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import select
import signal
import subprocess
import sys
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlsplit

HOST = "127.0.0.1"
# URL parameters that belong to the HTTP interface rather than being settings.
_HTTP_PARAMS = {"query", "database", "default_format", "session_id", "session_timeout", "session_check",
                "query_id", "user", "password", "quota_key", "buffer_size", "wait_end_of_query",
                "client_protocol_version", "role", "stacktrace", "compress", "decompress"}  # fmt: skip
_NAME = rb"(?:`[^`]*`|\"[^\"]*\"|[\w.])+"
_INSERT_RE = re.compile(  # INSERT INTO t [(cols)] [SETTINGS ...] FORMAT f, then data after one newline
    rb"\s*(INSERT\s+INTO\s+(?:TABLE\s+)?" + _NAME + rb"(?:\s*\([^)]*\))?(?:\s+SETTINGS\s[^()]*?)?)"
    rb"\s+FORMAT\s+(\w+)[ \t\f]*\r?\n?",
    re.IGNORECASE,
)
_OUTPUT_RE = re.compile(r"\s*(?:\(|(?:SELECT|WITH|SHOW|DESC|DESCRIBE|EXISTS|EXPLAIN|CHECK)\b)", re.IGNORECASE)
_FORMAT_RE = re.compile(r"\bFORMAT\s+(\w+)\s*;?\s*$", re.IGNORECASE)
_CODE_RE = re.compile(r"Code: (\d+)\.")
_HTTP_STATUS = {46: 404, 47: 404, 60: 404, 62: 400, 81: 404, 115: 404}  # roughly as ClickHouse; else 500


class StandInError(Exception):
    """A failure reported to the client the way ClickHouse reports exceptions."""

    def __init__(self, code: int, message: str, name: str = "") -> None:
        super().__init__(f"Code: {code}. DB::Exception: {message}. ({name})" if name else message)
        self.code = code

    @classmethod
    def from_chdb(cls, ex: Exception) -> StandInError:
        """chDB raises RuntimeError/ChdbError whose text contains ``Code: N. DB::Exception: ...``."""
        text = str(ex)
        if match := _CODE_RE.search(text):
            return cls(int(match[1]), text[match.start() :])
        return cls(1001, f"{type(ex).__name__}: {text}", "STD_EXCEPTION")


class _Decompressor(Protocol):
    @property
    def unused_data(self) -> bytes: ...

    def decompress(self, data: bytes) -> bytes: ...


def _decode_frames(data: bytes, factory: Callable[[], _Decompressor]) -> bytes:
    """Decode a concatenation of independent frames (one per client block)."""
    out = bytearray()
    while data:
        decoder = factory()
        out += decoder.decompress(data)
        data = decoder.unused_data
    return bytes(out)


def decompress_body(data: bytes, encoding: str | None) -> bytes:
    encoding = (encoding or "identity").strip().lower()
    try:
        if encoding == "identity" or not data:
            return data
        if encoding == "lz4":
            import lz4.frame  # type: ignore[import-untyped]

            return _decode_frames(data, lz4.frame.LZ4FrameDecompressor)
        if encoding == "zstd":
            import zstandard

            return _decode_frames(data, lambda: zstandard.ZstdDecompressor().decompressobj())
        if encoding in ("gzip", "deflate"):
            return _decode_frames(data, lambda: zlib.decompressobj(31 if encoding == "gzip" else 15))
    except Exception as ex:
        raise StandInError(271, f"Cannot decompress {encoding} body: {ex}", "CANNOT_DECOMPRESS") from ex
    raise StandInError(1, f"Unsupported Content-Encoding: {encoding}", "UNSUPPORTED_METHOD")


def _literal(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class Engine:
    """Runs statements on chDB, one fresh connection per request."""

    def __init__(self, path: str) -> None:
        import chdb  # here, so test processes that only import StandIn never load the engine

        self._connect = chdb.connect
        self._path = path
        self._anchor = chdb.connect(path)  # keeps the embedded engine (and its path lock) alive
        row = self._anchor.query("SELECT version(), timezone()", "TabSeparated").bytes()
        self.version, self.timezone = row.decode().strip().split("\t")

    def close(self) -> None:
        self._anchor.close()

    def execute(self, params: Mapping[str, str], body: bytes) -> tuple[bytes, dict[str, str]]:
        """Run one request; return the response body and extra response headers."""
        url_query = params.get("query", "").encode()
        text = url_query + b"\n" + body if url_query and body else url_query or body
        if not text.strip():
            raise StandInError(62, "Empty query", "SYNTAX_ERROR")
        conn = self._connect(self._path)
        try:
            for name, value in params.items():
                if name not in _HTTP_PARAMS and not name.startswith("param_"):
                    if not re.fullmatch(r"\w+", name):
                        raise StandInError(115, f"Unknown setting '{name}'", "UNKNOWN_SETTING")
                    conn.query(f"SET {name} = {_literal(value)}")
            if params.get("database"):
                conn.query(f"USE `{params['database'].replace('`', '``')}`")
            started = time.monotonic_ns()
            insert = _INSERT_RE.match(text)
            if insert is not None:
                inserter = conn.send_insert(insert[1].decode(), insert[2].decode())
                if data := text[insert.end() :]:
                    inserter.append(data)  # type: ignore[no-untyped-call]
                done = inserter.finish()
                read, written = (0, 0), (done.rows_written, done.bytes_written)
                out, headers = b"", dict[str, str]()
            else:
                sql = text.decode()
                binds = {k[6:]: v for k, v in params.items() if k.startswith("param_")}
                default_format = params.get("default_format", "TabSeparated")
                result = conn.query(sql, default_format, params=binds)
                read = (result.rows_read(), result.bytes_read())
                written = (result.rows_written(), result.bytes_written())
                out, headers = result.bytes(), {}
                if _OUTPUT_RE.match(sql):  # ClickHouse names the format only for statements with output
                    fmt = _FORMAT_RE.search(sql)
                    headers["X-ClickHouse-Format"] = fmt[1] if fmt else default_format
        finally:
            conn.close()
        summary = {"read_rows": read[0], "read_bytes": read[1], "written_rows": written[0],
                   "written_bytes": written[1], "total_rows_to_read": read[0], "result_rows": 0,
                   "result_bytes": len(out), "elapsed_ns": time.monotonic_ns() - started}  # fmt: skip
        headers["X-ClickHouse-Summary"] = json.dumps({k: str(v) for k, v in summary.items()})
        return out, headers


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True  # restart on the same port while old sockets sit in TIME_WAIT

    def __init__(self, port: int, engine: Engine) -> None:
        super().__init__((HOST, port), _Handler)
        self.engine = engine


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the client's urllib3 pool expects
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet; errors still reach stderr through handle_error."""

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            body = bytearray()
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                body += self.rfile.read(size)
                self.rfile.readline()
            while self.rfile.readline().strip():  # trailer section up to the blank line
                pass
            return bytes(body)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _reply(self, status: int, body: bytes, headers: Mapping[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _handle(self) -> None:
        url = urlsplit(self.path)
        params = dict(parse_qsl(url.query, keep_blank_values=True))
        body = self._read_body()
        if url.path == "/ping" or (self.command == "GET" and "query" not in params):
            self._reply(200, b"Ok.\n", {"Content-Type": "text/html; charset=UTF-8"})
            return
        engine = self.server.engine
        headers = {"X-ClickHouse-Query-Id": params.get("query_id") or str(uuid.uuid4()),
                   "X-ClickHouse-Timezone": engine.timezone}  # fmt: skip
        try:
            content_type = self.headers.get("Content-Type", "")
            if content_type.startswith("multipart/form-data"):  # large bind parameters arrive as form fields
                params.update(_form_fields(content_type, body))
                body = b""
            out, extra = engine.execute(params, decompress_body(body, self.headers.get("Content-Encoding")))
        except Exception as ex:
            error = ex if isinstance(ex, StandInError) else StandInError.from_chdb(ex)
            headers["X-ClickHouse-Exception-Code"] = str(error.code)
            headers["Content-Type"] = "text/plain; charset=UTF-8"
            message = f"{error} (version {engine.version} chDB stand-in)\n".encode()
            self._reply(_HTTP_STATUS.get(error.code, 500), message, headers)
            return
        self._reply(200, out, {**headers, **extra, "Content-Type": "application/octet-stream"})


def _form_fields(content_type: str, body: bytes) -> dict[str, str]:
    message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    fields = {}
    for part in message.iter_parts():
        name, payload = part.get_param("name", header="content-disposition"), part.get_payload(decode=True)
        if not isinstance(name, str) or not isinstance(payload, bytes) or part.get_filename():
            raise StandInError(1, "The stand-in supports no external data", "UNSUPPORTED_METHOD")
        fields[name] = payload.decode()
    return fields


def serve(path: Path, port: int, *, exit_on_stdin_eof: bool = False) -> None:
    """Serve until SIGTERM/SIGINT (or stdin EOF if asked); print the ready line once listening."""
    path.mkdir(parents=True, exist_ok=True)
    engine = Engine(str(path))
    server = _Server(port, engine)

    def stop(signum: int, frame: FrameType | None) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    def watch_stdin() -> None:  # EOF = the parent test process is gone without stopping us
        while os.read(0, 4096):  # raw fd: a daemon thread blocked in sys.stdin would stall exit
            pass
        server.shutdown()

    if exit_on_stdin_eof:
        threading.Thread(target=watch_stdin, daemon=True).start()
    print(f"listening on {HOST}:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever(poll_interval=0.1)
    finally:
        server.server_close()
        engine.close()


def _finish(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    """Signal ``proc`` (SIGKILL after 15 s if still alive), reap it and close its pipes."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for pipe in (proc.stdin, proc.stdout):
        if pipe is not None:
            pipe.close()


class StandIn:
    """A running stand-in subprocess serving the chDB database under ``path``."""

    host = HOST

    def __init__(self, path: Path, port: int = 0, *, startup_timeout: float = 30.0) -> None:
        self.path = Path(path)
        self.port = port
        self._startup_timeout = startup_timeout
        self._proc: subprocess.Popen[bytes] | None = None
        self._start()

    @property
    def url(self) -> str:
        return f"http://default:@{self.host}:{self.port}/"

    @property
    def pid(self) -> int:
        if self._proc is None:
            raise RuntimeError("stand-in is not running")
        return self._proc.pid

    def _start(self) -> None:
        script, port = str(Path(__file__).resolve()), str(self.port)
        command = [sys.executable, script, "--path", str(self.path), "--port", port, "--exit-on-stdin-eof"]
        env = {**os.environ, "TZ": "UTC"}  # server timezone() = UTC, like a stock clickhouse-server image
        proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
        assert proc.stdout is not None
        deadline = time.monotonic() + self._startup_timeout
        # poll(), not select(): a long test session can hold more than 1,024 descriptors.
        ready = select.poll()
        ready.register(proc.stdout, select.POLLIN)
        while (left := deadline - time.monotonic()) > 0 and ready.poll(left * 1000):
            line = proc.stdout.readline().decode(errors="replace")
            if match := re.fullmatch(r"listening on [\d.]+:(\d+)\s*", line):
                self.port, self._proc = int(match[1]), proc
                return
            if not line:
                break
        _finish(proc, signal.SIGKILL)
        raise RuntimeError(f"stand-in failed to start: {self.path}, port {port}, exit {proc.returncode}")

    def _end(self, sig: signal.Signals) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            _finish(proc, sig)

    def stop(self) -> None:
        """SIGTERM and wait (SIGKILL after 15 s)."""
        self._end(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL and wait -- an abrupt crash, for fault tests."""
        self._end(signal.SIGKILL)

    def restart(self) -> None:
        """Stop if running, then start again on the same path and the same port."""
        self.stop()
        self._start()


@contextmanager
def running_standin(path: Path, port: int = 0) -> Iterator[StandIn]:
    standin = StandIn(path, port)
    try:
        yield standin
    finally:
        standin.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="clickhouse-server stand-in backed by chDB (tests only)")
    parser.add_argument("--path", type=Path, required=True, help="chDB database directory")
    parser.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0 = pick a free one)")
    parser.add_argument("--exit-on-stdin-eof", action="store_true", help="stop when stdin closes")
    args = parser.parse_args(argv)
    serve(args.path, args.port, exit_on_stdin_eof=args.exit_on_stdin_eof)


if __name__ == "__main__":
    main()
