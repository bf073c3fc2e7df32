"""Keeps the data folder private to the service user: folders 0700, files 0600.

The folder holds the embedded ClickHouse data (hits, the consent log), the spool, the signing key,
the dashboard users and the control channel's socket. Two halves: the CLI sets the process umask to
``PRIVATE_UMASK`` before anything is written, so whatever the gateway or the ClickHouse engine in it
create later is private (worker processes inherit the umask); ``serve`` tightens what an earlier
version or another tool left behind (``make_private``). Owner bits are kept: only group and other
lose theirs. Symbolic links are not followed: what they point to is not ours to change.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger(__name__)

PRIVATE_UMASK = 0o077


@contextmanager
def private_umask() -> Iterator[None]:
    """The process umask is PRIVATE_UMASK inside, the previous one after (a CLI run inside tests)."""
    previous = os.umask(PRIVATE_UMASK)
    try:
        yield
    finally:
        os.umask(previous)


def make_private(root: Path) -> int:
    """Remove group and other permissions under ``root`` (itself included); the number changed."""
    root = root.resolve()
    if not root.is_dir():
        return 0
    if root.stat().st_mode & stat.S_ISVTX or root == Path(root.anchor) or root == Path.home():
        # A data folder set to /tmp or a home by mistake: tightening it would break others, not us.
        log.warning("%s is a shared folder: its permissions are left alone; give the gateway a "
                    "folder of its own (GATEWAY_DATA_DIR)", root)
        return 0
    changed = refused = 0
    for path in _walk(root):
        try:
            mode = path.lstat().st_mode
            if stat.S_ISLNK(mode) or not mode & 0o077:
                continue
            path.chmod(stat.S_IMODE(mode) & ~0o077)
            changed += 1
        except FileNotFoundError:
            continue  # removed meanwhile (ClickHouse's temporary parts)
        except PermissionError:
            refused += 1
    if refused:
        log.warning("%d file(s) under %s are readable by other users and not owned by this one: "
                    "change their owner or mode by hand (e.g. chmod -R go= %s)", refused, root, root)
    if changed:
        log.info("made %d file(s) under %s private to this user", changed, root)
    return changed


def _walk(root: Path) -> Iterator[Path]:
    yield root
    for folder, dirs, files in os.walk(root, followlinks=False):
        for name in dirs + files:
            yield Path(folder, name)


def secure_data_dir(data_dir: Path, *others: Path) -> int:
    """Create ``data_dir`` private if missing, then make it and ``others`` (an embedded ClickHouse
    folder outside it) private throughout."""
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    changed = make_private(data_dir)
    for other in others:
        if other.is_dir() and not other.resolve().is_relative_to(data_dir.resolve()):
            changed += make_private(other)
    return changed
