"""The spool's files, handled on its sync thread: the folder's lock, the segment being written, the
deletion of acknowledged segments, and the recovery of what an earlier run left.

Everything here runs on the spool's one I/O thread, so the open descriptor needs no lock. A write
that fails (a full disk, an I/O error) is cut back to the segment's last whole frame and the file
is given up, its descriptor closed: the spool writes on in a fresh segment, and the given-up one is
deleted once its records are acknowledged. Closing matters on a full disk: a deleted file's blocks
are only freed once no descriptor holds it.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from gateway.storage.spool_format import Scan, scan_segment

log = logging.getLogger("gateway.storage.spool")
NAME = re.compile(r"spool-(\d+)\.log")
PROBE = "spool.probe"  # the scratch file ``fits`` reserves space with; never a segment's name
# What posix_fallocate raises where the filesystem cannot reserve (glibc emulates most of the rest).
_NO_FALLOCATE = frozenset({errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS})


class SpoolBusy(RuntimeError):
    """Another process holds this spool folder (each process needs its own)."""


@dataclass(slots=True)
class Segment:
    number: int
    path: Path
    size: int
    records: int = 0
    pending: int = 0        # records without an ack
    first_seq: int = 0      # records in a segment have increasing seqs: [first_seq, last_seq]
    last_seq: int = -1
    # Segments whose records this one's acks cover: while any of them is on disk, this one must stay,
    # or those records would be replayed again.
    needs: set[int] = field(default_factory=set)


@dataclass(slots=True)
class Replay:
    segment: Segment
    scan: Scan
    pending: list[int]  # indexes into scan.seqs/offsets


@dataclass(slots=True)
class Recovered:
    segments: dict[int, Segment]  # ascending numbers
    replays: list[Replay]
    next_segment: int
    next_seq: int
    corrupt: int  # segments damaged in the middle


class SegmentFiles:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._fd = self._lock_fd = -1
        self._size = 0  # of the segment being written, up to its last whole frame

    def path(self, number: int) -> Path:
        return self.directory / f"spool-{number:012d}.log"

    def recover(self) -> Recovered:
        """Lock the folder, cut torn tails off, and say which records of earlier runs have no ack."""
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._lock()
        (self.directory / PROBE).unlink(missing_ok=True)  # a probe's, if a crash came in its middle
        found = sorted((int(m[1]), path) for path in self.directory.iterdir()
                       if (m := NAME.fullmatch(path.name)))
        scanned: list[tuple[Segment, Scan]] = []
        acked: set[int] = set()
        top = corrupt = 0
        for number, path in found:
            data = path.read_bytes()
            scan = scan_segment(data)
            if scan.corrupt and not scan.end:
                log.warning("spool: %s is not a spool segment of this version; left alone", path.name)
                continue
            if scan.corrupt:
                corrupt += 1
                log.warning("spool: %s is damaged at byte %d; the records after it are lost", path.name,
                            scan.end)
            elif scan.torn and scan.end < len(data):
                log.info("spool: %s ends in an interrupted write, cut at byte %d", path.name, scan.end)
                with path.open("r+b") as file:
                    file.truncate(scan.end)
                    os.fsync(file.fileno())
                data = data[:scan.end]
            segment = Segment(number, path, len(data), records=len(scan.seqs))
            if scan.seqs:
                segment.first_seq, segment.last_seq = scan.seqs[0], scan.seqs[-1]
                top = max(top, segment.last_seq)
            for first, count in scan.acks:
                acked.update(range(first, first + count))
                top = max(top, first + count - 1)
            scanned.append((segment, scan))
        replays = []
        for segment, scan in scanned:
            pending = [i for i, seq in enumerate(scan.seqs) if seq not in acked]
            segment.pending = len(pending)
            for first, count in scan.acks:
                segment.needs.update(other.number for other, _ in scanned if other is not segment
                                     and other.records and other.first_seq < first + count
                                     and first <= other.last_seq)
            if pending:
                replays.append(Replay(segment, scan, pending))
        return Recovered({segment.number: segment for segment, _ in scanned}, replays,
                         found[-1][0] + 1 if found else 1, top + 1, corrupt)

    def _lock(self) -> None:
        fd = os.open(self.directory / "spool.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise SpoolBusy(f"another process uses the spool folder {self.directory}") from None
        self._lock_fd = fd

    def create(self, path: Path, preamble: bytes) -> None:
        """Start writing a fresh segment; the previous one is closed first, whatever happens here."""
        self._close_segment()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC, 0o600)
        try:
            _write_all(fd, preamble)
            os.fdatasync(fd)
            _sync_dir(self.directory)
        except BaseException:
            os.close(fd)
            path.unlink(missing_ok=True)
            raise
        self._fd, self._size = fd, len(preamble)

    def append(self, data: bytes | bytearray, sync: bool) -> float:
        """Write (and fdatasync when ``sync``) at the end of the current segment; seconds it took."""
        started = time.perf_counter()
        try:
            if self._fd < 0:
                raise OSError(errno.EBADF, "no segment is open")
            _write_all(self._fd, data)
            if sync:
                os.fdatasync(self._fd)
        except OSError:
            # Cut the file back to its last whole frame: a partial frame with good ones after it would
            # read as damage and cost those at replay. After a failed fsync the kernel may have dropped
            # the pages (and a later fsync succeeds anyway), so this file takes nothing more either.
            if self._fd >= 0:
                with contextlib.suppress(OSError):
                    os.ftruncate(self._fd, self._size)
            self._close_segment()
            raise
        self._size += len(data)
        return time.perf_counter() - started

    def delete(self, paths: list[Path]) -> list[Path]:
        """Delete ``paths``; the ones that could not be (they stay, and are tried again later)."""
        failed = []
        for path in paths:
            try:
                path.unlink(missing_ok=True)
            except OSError as exc:
                log.warning("spool: cannot delete %s: %s", path.name, exc.strerror or type(exc).__name__)
                failed.append(path)
        with contextlib.suppress(OSError):  # the unlinks happened; only their durability is delayed
            _sync_dir(self.directory)
        return failed

    def free_bytes(self) -> int | None:
        try:
            stats = os.statvfs(self.directory)
        except OSError:
            return None
        return stats.f_bavail * stats.f_frsize

    def fits(self, size: int) -> bool:
        """Whether a fresh segment of ``size`` bytes fits now. Tried for real: the space is reserved
        in a scratch file, then freed. statvfs would miss a quota (EDQUOT) and, for root, the blocks
        reserved for it (f_bavail stays 0 until 5 % is free on ext4, yet root's writes succeed)."""
        path = self.directory / PROBE
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        except OSError:  # read-only, out of inodes or quota: no segment could be created either
            return False
        try:
            os.posix_fallocate(fd, 0, max(size, 1))
        except OSError as exc:
            return exc.errno in _NO_FALLOCATE and self._fits_statvfs(size)
        finally:
            os.close(fd)
            with contextlib.suppress(OSError):
                path.unlink()
        return True

    def _fits_statvfs(self, size: int) -> bool:
        """The estimate where nothing can be reserved: in whole blocks, plus one for a segment's last
        block the write may share and one for a fresh segment's header (the write may roll over)."""
        try:
            stats = os.statvfs(self.directory)
        except OSError:
            return False
        free = stats.f_bfree if os.geteuid() == 0 else stats.f_bavail
        return free >= -(-size // (stats.f_frsize or 4096)) + 2

    def close(self) -> None:
        self._close_segment()
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1

    def _close_segment(self) -> None:
        if self._fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = -1


def _write_all(fd: int, data: bytes | bytearray) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        if not written:
            raise OSError(errno.EIO, "write returned 0")
        view = view[written:]


def _sync_dir(path: Path) -> None:
    """Make a file's creation or removal durable: the directory entry lives in the directory."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
