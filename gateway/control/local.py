"""Where the channel lives in the data folder, and addresses for it that fit in AF_UNIX."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from gateway.config.settings import Settings

SOCKET_NAME = "control.sock"
TOKEN_NAME = "control.token"  # noqa: S105 (a file name, not a secret)


def socket_path(settings: Settings) -> Path:
    return settings.data_dir / SOCKET_NAME


def token_path(settings: Settings) -> Path:
    return settings.data_dir / TOKEN_NAME


@contextlib.contextmanager
def addressable(path: Path) -> Iterator[str]:
    """A name for ``path`` that fits in an AF_UNIX address (104 bytes on macOS, 108 on Linux): the path
    itself, or on Linux the same file through a short ``/proc/self/fd`` link to its folder."""
    if len(os.fsencode(path)) < 100 or not Path("/proc/self/fd").is_dir():
        yield str(path)
        return
    folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        yield f"/proc/self/fd/{folder}/{path.name}"
    finally:
        os.close(folder)
