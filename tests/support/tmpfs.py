"""A small real disk for tests that need one to fill up: a tmpfs, and a ballast file that fills it.

Real rather than simulated: the kernel's ENOSPC comes where a real disk's would, including a
write cut short part-way, and space comes back only once a deleted file is closed too (a fake
write function would miss that). Mounting needs root (CAP_SYS_ADMIN); where it is refused,
``MountRefused`` says why, and the tests skip with that message.
"""

from __future__ import annotations

import errno
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

PAGE = 4096


class MountRefused(RuntimeError):
    """This machine does not let the tests mount a tmpfs (not root, or no CAP_SYS_ADMIN)."""


@contextmanager
def tmpfs(path: Path, size: int) -> Iterator[Path]:
    """A tmpfs of ``size`` bytes at ``path``, unmounted afterwards (lazily if something still holds it)."""
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        raise MountRefused("mounting a tmpfs needs root")
    try:
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)],
                                 capture_output=True, text=True, timeout=30, check=False)
    except FileNotFoundError:
        raise MountRefused("no mount command") from None
    if mounted.returncode != 0:
        raise MountRefused(f"mount -t tmpfs refused: {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        if subprocess.run(["umount", str(path)], capture_output=True, check=False).returncode != 0:
            subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)


def free_bytes(path: Path) -> int:
    stats = os.statvfs(path)
    return stats.f_bavail * stats.f_frsize


class Ballast:
    """A file that takes the disk's free space (``fill``), and after ``top_up`` keeps taking what frees up."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def fill(self, leave: int = 0) -> None:
        """Grow until about ``leave`` bytes are free; with 0, until the disk refuses even a page."""
        chunk = 2**20
        while chunk >= PAGE:
            size = chunk
            if leave:
                size = min(chunk, (free_bytes(self.path.parent) - leave) // PAGE * PAGE)
                if size < PAGE:
                    return
            try:
                os.write(self._fd, bytes(size))
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                chunk //= 16

    def top_up(self) -> None:
        """Keep the disk full from a thread: whatever the spool frees, the ballast takes first or next."""
        def run() -> None:
            while not self._stop.is_set():
                with suppress(OSError):
                    os.write(self._fd, b"\0" * PAGE)
                    continue
                time.sleep(0.002)

        self._thread = threading.Thread(target=run, name="ballast", daemon=True)
        self._thread.start()

    def delete(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        os.close(self._fd)
        self.path.unlink()


