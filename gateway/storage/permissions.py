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
from collections.abc import Collection, Iterator
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


# What embedded ClickHouse (chDB) keeps in its folder: tightened there, nothing else.
CLICKHOUSE_ENTRIES = frozenset({"data", "metadata", "metadata_dropped", "store", "tmp", "user_files",
                                "format_schemas", "preprocessed_configs", "flags", "status", "uuid"})


def make_private(root: Path, entries: Collection[str] | None = None) -> int:
    """Remove group and other permissions from ``root`` and, below it, from ``entries`` (names of
    its children, followed all the way down) or everything; the number changed.

    Naming the entries keeps a mistaken setting (``GATEWAY_DATA_DIR=/srv``, a shared volume) from
    rewriting the modes of what others keep there; ``root`` itself is tightened only when it holds
    nothing else (0700 would lock the others out), and then hides everything below it.
    """
    root = root.resolve()
    if not root.is_dir():
        return 0
    if root.stat().st_mode & stat.S_ISVTX or root == Path(root.anchor) or root == Path.home():
        # A data folder set to /tmp or a home by mistake: tightening it would break others, not us.
        log.warning("%s is a shared folder: its permissions are left alone; give the gateway a "
                    "folder of its own (GATEWAY_DATA_DIR)", root)
        return 0
    changed = refused = 0
    for path in _walk(root, entries):
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


def _walk(root: Path, entries: Collection[str] | None) -> Iterator[Path]:
    foreign = [] if entries is None else [c.name for c in root.iterdir() if not _ours(c.name, entries)]
    if foreign:  # others' files beside ours: a folder of 0700 would lock them out, so it stays as it is
        log.warning("%s holds more than the gateway's files (%s...): its own mode is left alone; give the "
                    "gateway a folder of its own (GATEWAY_DATA_DIR)", root, sorted(foreign)[0][:40])
    else:
        yield root
    for top in sorted(root.iterdir()) if entries is not None else [root]:
        if entries is not None:
            if top.name not in entries:
                continue
            yield top
            if top.is_symlink() or not top.is_dir():
                continue
        for folder, dirs, files in os.walk(top, followlinks=False):
            for name in dirs + files:
                yield Path(folder, name)


def _ours(name: str, entries: Collection[str]) -> bool:
    """One of the gateway's entries, a file being written in place of one, or a file system's own."""
    hidden = name.startswith(".") and (name.endswith(".tmp") or any(name[1:].startswith(e) for e in entries))
    return name in entries or name == "lost+found" or hidden


def secure_data_dir(data_dir: Path, entries: Collection[str], clickhouse: Path | None = None) -> int:
    """Create ``data_dir`` private if missing, then make it and its gateway ``entries`` private, and
    an embedded ClickHouse folder outside it (its engine's entries only)."""
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    changed = make_private(data_dir, entries)
    if clickhouse is not None and clickhouse.is_dir() and not clickhouse.resolve().is_relative_to(
            data_dir.resolve()):
        changed += make_private(clickhouse, CLICKHOUSE_ENTRIES)
    return changed
