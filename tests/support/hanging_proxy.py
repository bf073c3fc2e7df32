"""A TCP forwarder in front of the ClickHouse stand-in that can stop answering without closing anything:
ClickHouse as a gateway sees it when the server hangs (it takes the request and never replies).

    with HangingProxy(upstream_port) as proxy:   # proxy.port forwards to the stand-in
        proxy.hang()                             # from now on, nothing goes either way
        proxy.release()                          # traffic flows again

Connections stay open while it hangs, so the client waits for its read timeout, as with a real hung
server (a refused connection would fail at once). With ``tls`` (a server-side SSLContext) it is a
ClickHouse server on https, as one behind a certificate of the operator's own CA.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import time
from types import TracebackType

from tests.support.clickhouse_standin import HOST


class HangingProxy:
    def __init__(self, upstream_port: int, tls: ssl.SSLContext | None = None) -> None:
        self._upstream = upstream_port
        self._tls = tls
        self._hanging = threading.Event()
        self._listener = socket.create_server((HOST, 0))
        self.port = int(self._listener.getsockname()[1])
        self._open: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def hang(self) -> None:
        self._hanging.set()

    def release(self) -> None:
        self._hanging.clear()

    def close(self) -> None:
        with contextlib.suppress(OSError):  # wakes the accepting thread, which then ends
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        for sock in self._open:
            sock.close()

    def __enter__(self) -> HangingProxy:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:  # closed
                return
            if self._tls is not None:
                try:
                    client = self._tls.wrap_socket(client, server_side=True)
                except (ssl.SSLError, OSError):  # a client that does not trust the certificate
                    client.close()
                    continue
            upstream = socket.create_connection((HOST, self._upstream))
            self._open += [client, upstream]
            for source, target in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                while self._hanging.is_set():
                    time.sleep(0.05)
                target.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
