"""A city database replaced on disk is picked up without a restart.

``consent-gateway geoip install --version latest`` (or any tool that does the same) moves the new file
into place with a rename, so the path names either the old file or the new one, whole. Only a rename
is safe: the reader maps the file into memory, so writing over it in place (``cp``, ``curl -o``)
changes the pages a lookup reads and can crash the process (SIGBUS), reload or not. ``GeoWatcher``
looks at the files' identity (inode, size, modification time) every ``interval`` seconds. When it
changed, it opens the new database in a thread and hands it to ``swap`` on the event loop, between
two lookups, which then closes the old one: no lookup ever sees a half-written file or a half-open
reader. A new file that cannot be opened leaves the old database in use (``open_db`` says why), and
a database installed after the start is taken up the same way.

Imports nothing of the gateway: the app gives it the paths, how to open them and what to swap.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

FileId = tuple[int, int, int] | None


def file_id(path: Path) -> FileId:
    """What changes when a file is replaced: its inode (a rename), size and modification time."""
    try:
        found = path.stat()
    except OSError:
        return None
    return found.st_ino, found.st_size, found.st_mtime_ns


class GeoWatcher:
    def __init__(self, paths: Sequence[Path], open_db: Callable[[], Any | None],
                 swap: Callable[[Any], None], interval: float) -> None:
        self._paths = tuple(paths)
        self._open_db = open_db
        self._swap = swap
        self._interval = interval
        self._seen = self._ids()
        self._task: asyncio.Task[None] | None = None

    def _ids(self) -> tuple[FileId, ...]:
        return tuple(file_id(path) for path in self._paths)

    def start(self) -> None:
        if self._interval > 0:
            self._task = asyncio.create_task(self._run(), name="geoip-reload")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.check()
            except Exception:  # never let a reload stop the watching; the next change is tried again
                log.exception("GeoIP reload failed; the database in use stays")

    async def check(self) -> bool:
        """Open and swap in the databases if their files changed; True when a new one is in use."""
        seen = self._ids()
        if seen == self._seen or seen[0] is None:  # unchanged, or the city file is gone: keep ours
            return False
        self._seen = seen
        new = await asyncio.to_thread(self._open_db)
        if new is None:
            return False
        self._swap(new)
        return True

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
