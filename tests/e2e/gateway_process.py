"""Runs the real ``consent-gateway serve`` in a subprocess for end-to-end stories."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx2 as httpx


@dataclass
class Gateway:
    base: str
    log_file: Path
    exit_code: int | None = None
    process: subprocess.Popen[bytes] | None = None

    def kill(self) -> None:
        """SIGKILL and reap: a crash mid-load, for fault tests (the context's exit then just reaps)."""
        assert self.process is not None
        self.process.kill()
        self.exit_code = self.process.wait(timeout=30)

    @property
    def log(self) -> str:
        return self.log_file.read_text()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def gateway_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    return env | extra


def run_cli(args: list[str], env: dict[str, str], timeout: float = 120,
            cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``consent-gateway ARGS`` in a subprocess with only ``env``'s GATEWAY_* settings."""
    return subprocess.run([sys.executable, "-m", "gateway", *args], env=gateway_env(env), text=True,
                          capture_output=True, timeout=timeout, check=False, cwd=cwd)


@contextmanager
def running_gateway(env: dict[str, str], log_file: Path, port: int | None = None,
                    workers: int = 1) -> Iterator[Gateway]:
    """Start ``serve`` on ``port`` (or a free one), wait until it answers, stop it with SIGTERM afterwards."""
    port = port or free_port()
    with log_file.open("w") as log:
        server = subprocess.Popen([sys.executable, "-m", "gateway", "serve", "--port", str(port),
                                   "--workers", str(workers)],
                                  env=gateway_env(env), stdout=log, stderr=subprocess.STDOUT)
    gateway = Gateway(f"http://127.0.0.1:{port}", log_file, process=server)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{gateway.base}/-/version", timeout=5)
                break
            except httpx.TransportError:
                assert server.poll() is None, log_file.read_text()
                assert time.monotonic() < deadline, "gateway did not start in 60 s"
                time.sleep(0.2)
        yield gateway
    finally:
        server.send_signal(signal.SIGTERM)
        gateway.exit_code = server.wait(timeout=30)
