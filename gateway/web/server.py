"""The HTTP server's limits: the options ``serve`` gives uvicorn, and the two limits uvicorn lacks.

uvicorn's httptools protocol (the one it picks when httptools is installed, as here) bounds neither
how many bytes of request line and headers it buffers (llhttp itself has no limit: 20 MB of headers
were read and answered 200) nor how long a client may take to send a request: its keep-alive timer
runs only between requests and stops at the first byte of the next, so a client that trickles a
byte now and then holds its connection for ever (slowloris), and one that connects and sends
nothing too. :class:`LimitedHttpToolsProtocol` adds both:

- a request's head (request line and header fields) larger than ``MAX_HEAD_BYTES`` is answered 431
  and the connection closed; while it arrives, no more than ``2 * MAX_HEAD_BYTES + SLICE`` bytes of
  it (80 KB, framing included) are kept from one read to the next, however many pipelined requests
  came before it in the same read;
- a request's head must arrive within ``HEAD_TIMEOUT`` seconds of its first byte (or of the
  connection's opening), and its body within ``BODY_TIMEOUT`` of the head's end; else 408 (when no
  answer has started) and the connection is closed. A connection that sent no byte of a request in
  that time is closed without an answer, as nginx does: browsers open such sockets in advance
  (preconnect) and would otherwise read a 408 they never asked for. The body's limit is a backstop:
  an endpoint that reads a body gives up first, after 30 s, with a counted 408 of its own
  (gateway/web/bodies.py); this one catches a body no endpoint reads. Only the client's sending is
  timed, never the gateway's work on a request (though a body uvicorn stops reading, because the
  application has not taken the last 64 KB yet or is busy with a pipelined request before it, is
  still timed: the gateway reads bodies at once, and browsers do not pipeline).

A slow client then costs one socket and a few KB for at most ``HEAD_TIMEOUT`` + ``BODY_TIMEOUT``;
the event loop serves everyone else meanwhile. What stays unbounded here is how many such sockets
a flood opens: that is the reverse proxy's job (per-address connection limits), up to the
open-files limit, which ``serve`` raises to its hard maximum so that sockets run out late and
embedded ClickHouse keeps its files.
"""

from __future__ import annotations

import asyncio
import resource
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

MAX_HEAD_BYTES = 32 * 1024  # nginx's default allows 4 x 8 KB lines; Node 16 KB; our heads are < 4 KB
HEAD_TIMEOUT = 30.0  # nginx's client_header_timeout is 60 s; our heads are a few KB
BODY_TIMEOUT = 60.0  # longer than the endpoints' own 30 s (gateway/web/bodies.py), which answer first
KEEP_ALIVE = 5  # uvicorn default; a pooling proxy must drop idle ones sooner (docs/operating.md)
BACKLOG = 2048  # uvicorn's default; the kernel caps it at net.core.somaxconn
LINGER = 2.0  # seconds a refused client's further bytes are read and dropped, so that it reads the answer
SLICE = 16 * 1024  # a larger read is parsed in pieces this long, to bound what a head may hold unnoticed


def uvicorn_options() -> dict[str, Any]:
    """The limits ``uvicorn.run`` is given (the rest of its options are set by ``serve``)."""
    return {"http": f"{__name__}:LimitedHttpToolsProtocol", "timeout_keep_alive": KEEP_ALIVE,
            "backlog": BACKLOG,
            # Not limit_concurrency: uvicorn counts open connections, idle and slow ones included, so a
            # slowloris would turn it into a 503 for everyone. Overload is refused further in, with a
            # 503 from the writer (GATEWAY_WRITER_MAX_PENDING) and the spool's byte cap.
            "limit_concurrency": None,
            # Used only if uvicorn's h11 protocol is chosen instead: the same cap on a request's head.
            "h11_max_incomplete_event_size": MAX_HEAD_BYTES}


def raise_open_files_limit() -> int:
    """Raise the soft limit on open files to the hard one; returns the limit in force.

    Each connection holds a descriptor; at the usual soft limit of 1,024 a few hundred slow clients
    plus embedded ClickHouse's own files would make accept() and ClickHouse fail.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            return hard
        except (ValueError, OSError):  # e.g. an unlimited hard limit some kernels refuse as soft
            return soft
    return soft


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a cap on a request's head and a deadline to receive it."""

    max_head_bytes = MAX_HEAD_BYTES
    head_timeout = HEAD_TIMEOUT
    body_timeout = BODY_TIMEOUT

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._in_head = True
        self._head = 0  # bytes of the request line and header fields, as the parser hands them over
        self._received = 0  # bytes of the incomplete head in pieces after its first, framing included
        self._began = False  # a message began in the piece being parsed
        self._upgraded = False  # the piece being parsed held the end of a request that upgrades
        self._silent = True  # no byte has arrived on the connection yet
        self._deadline: asyncio.TimerHandle | None = None
        self._refused = False
        super().connection_made(transport)
        self._arm(self.head_timeout)  # a connection that never sends a byte is closed too

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused or self.transport.is_closing():
            return  # refused already: nothing more is parsed or buffered
        self._silent = False
        if self._deadline is None:  # the first bytes since the last request arrived whole
            self._arm(self.head_timeout)
        # The parser hands a header field over only once it ends, so a head that does not end (one
        # endless header) is bounded by the bytes that arrived for it. httptools does not say where in
        # a read a request begins, and a read (up to 256 KB) may hold a thousand pipelined requests
        # before the head it ends in: counting the whole read would refuse them all. So a read is
        # parsed in pieces, and a piece counts only if the head still incomplete after it had begun
        # before it, when every byte of the piece is that head's. Uncounted is only the end of the
        # piece the head began in: a head whose bytes are within 2 * cap is never refused, and no more
        # than 2 * cap + SLICE of one is kept from a read to the next.
        for start in range(0, len(data), SLICE):
            piece = data[start:start + SLICE] if len(data) > SLICE else data
            self._began = self._upgraded = False
            super().data_received(piece)
            if self._refused or self.transport.is_closing() or self._upgraded:
                return  # uvicorn drops the rest of a read that upgrades, as when it parses it whole
            if self._in_head and not self._began:
                self._received += len(piece)
                if self._received > 2 * self.max_head_bytes:
                    self._refuse(431, b"Request Header Fields Too Large")
                    return

    # The parser's callbacks; after a refusal the rest of the piece being parsed is parsed and ignored.

    def on_message_begin(self) -> None:
        if self._refused:
            return
        super().on_message_begin()
        self._in_head, self._head, self._received, self._began = True, 0, 0, True
        if self._deadline is None:
            self._arm(self.head_timeout)

    def on_url(self, url: bytes) -> None:
        if not self._refused:
            self._head += len(url)
            super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self._refused:
            self._head += len(name) + len(value)
            super().on_header(name, value)

    def on_headers_complete(self) -> None:
        if self._refused:
            return
        if self._head > self.max_head_bytes:
            self._refuse(431, b"Request Header Fields Too Large")
            return
        self._in_head = False
        self._disarm()
        self._arm(self.body_timeout)  # disarmed at once when there is no body
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self._refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if self._refused:
            return
        self._disarm()  # received whole: what the application does with it is not timed here
        # llhttp stops after a request that upgrades (WebSocket, h2c, CONNECT), and uvicorn drops what
        # follows it in the read: the rest of the read is not parsed either (data_received).
        self._upgraded = self.parser.should_upgrade()
        super().on_message_complete()

    def send_400_response(self, msg: str) -> None:
        if self._refused:  # the rest of a refused read failed to parse: the 431 or 408 was the answer
            return
        super().send_400_response(msg)

    def _arm(self, seconds: float) -> None:
        self._deadline = self.loop.call_later(seconds, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        if self._silent:  # nothing asked, nothing answered: closed as an idle keep-alive connection is
            self._refused = True
            self.transport.close()
        elif not self.transport.is_closing():
            # At once, no lingering: the client is slow, and an application waiting on the body
            # learns of the disconnect now.
            self._refuse(408, b"Request Timeout", linger=False)

    def _refuse(self, status: int, reason: bytes, *, linger: bool = True) -> None:
        """Answer ``status`` and close; only close when another answer is under way (the application
        answered without reading the body still trickling in, or is answering the request before a
        pipelined one). An application waiting on the body sees a disconnect.

        The close lingers (unless told not to): what the client still sends is read and dropped for
        ``LINGER`` s, since closing a socket with unread bytes resets it, and the reset can destroy the
        answer before a client that sends its whole request before reading (most do) has read it.
        """
        self._disarm()
        self._refused = True
        cycle = self.cycle  # while a head arrives, the previous request's (or None); after it, this one's
        if cycle is None or (cycle.response_complete if self._in_head else not cycle.response_started):
            body = reason + b"\n"
            self.transport.write(b"HTTP/1.1 %d %s\r\ncontent-type: text/plain; charset=utf-8\r\n"
                                 b"content-length: %d\r\nconnection: close\r\n\r\n%s"
                                 % (status, reason, len(body), body))
            if linger and self.transport.can_write_eof():
                self.transport.write_eof()
                self._deadline = self.loop.call_later(LINGER, self.transport.close)
                return
        self.transport.close()
