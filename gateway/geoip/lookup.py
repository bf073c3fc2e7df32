"""GeoIP lookups: an IP string in, a city-level `Geo` out.

This module owns the runtime side of geolocation: opening a MaxMind-format
city database (and optionally an ASN database), turning a raw record into a
`Geo`, describing the open databases for `/-/health`, and knowing which
attribution the data's licence requires.

Privacy rule: nothing finer than the city leaves this module. Coordinates,
postal codes, accuracy radius and metro codes are in the databases but are
never copied out of the raw record. The IP is only ever an argument: it is not
logged, cached, or put into an exception message.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import Any, Protocol

import maxminddb

__all__ = [
    "EMPTY_GEO",
    "Attribution",
    "Geo",
    "GeoDatabase",
    "GeoDatabaseError",
    "GeoLookup",
    "attribution_for_database_type",
    "read_sidecar_attribution",
    "sidecar_path",
]


@dataclass(frozen=True, slots=True)
class Geo:
    """What the product may keep about where a hit came from: city at most."""

    country_code: str = ""  # ISO 3166-1 alpha-2, "" when unknown
    subdivision_code: str = ""  # ISO 3166-2 part of the first (largest) subdivision
    subdivision_name: str = ""  # English
    city_name: str = ""  # English
    city_name_local: str = ""  # in the requested language when the DB has it
    isp: str = ""  # autonomous_system_organization from the optional ASN DB


EMPTY_GEO = Geo()


@dataclass(frozen=True, slots=True)
class Attribution:
    """The credit line a database's licence asks us to show."""

    text: str
    url: str
    licence: str


class GeoLookup(Protocol):
    """The one call the ingest pipeline needs; tests hand in a fake."""

    def lookup(self, ip: str, language: str = "en") -> Geo: ...


class GeoDatabaseError(Exception):
    """A GeoIP database could not be opened, is not the expected kind, or is corrupt."""


GEOLITE2_ATTRIBUTION = Attribution(
    text=("This product includes GeoLite2 data created by MaxMind, available from https://www.maxmind.com"),
    url="https://www.maxmind.com",
    licence="GeoLite2 End User License Agreement (https://www.maxmind.com/en/geolite2/eula)",
)
DBIP_ATTRIBUTION = Attribution(
    text="IP Geolocation by DB-IP",
    url="https://db-ip.com",
    licence="CC BY 4.0 (https://creativecommons.org/licenses/by/4.0/)",
)
# Prefix of the metadata `database_type` -> attribution, used when no sidecar
# written by the installer says otherwise (e.g. a database copied in by hand).
_ATTRIBUTION_BY_TYPE_PREFIX: tuple[tuple[str, Attribution], ...] = (
    ("GeoLite2", GEOLITE2_ATTRIBUTION),
    ("DBIP", DBIP_ATTRIBUTION),
)

# Shared read-only stand-in for a missing sub-map, so a partial record costs no
# allocation.
_NO_MAP: Mapping[str, Any] = MappingProxyType({})


def attribution_for_database_type(database_type: str) -> Attribution | None:
    """Infer the attribution from a database's metadata type, if we know it."""
    for prefix, attribution in _ATTRIBUTION_BY_TYPE_PREFIX:
        if database_type.startswith(prefix):
            return attribution
    return None


def sidecar_path(db_path: Path) -> Path:
    """Where the installer records provenance and licence: `<db path>.json`."""
    return db_path.with_name(db_path.name + ".json")


def read_sidecar_attribution(db_path: Path) -> Attribution | None:
    """The attribution the installer recorded next to `db_path`, if readable."""
    # A broken sidecar must not stop the gateway from serving, so anything
    # unreadable falls back to what the metadata implies.
    try:
        data = json.loads(sidecar_path(db_path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    text, url, licence = (
        data.get("attribution_text"),
        data.get("attribution_url"),
        data.get("licence"),
    )
    if not (isinstance(text, str) and isinstance(url, str) and isinstance(licence, str)):
        return None
    return Attribution(text=text, url=url, licence=licence)


def _language_aliases(languages: list[str]) -> dict[str, str]:
    # Requested languages come from headers: "zh", "zh-cn" and "de-AT" should
    # find "zh-CN" and "de". Built once per database, so lookups stay a dict get.
    aliases: dict[str, str] = {}
    for language in languages:
        aliases[language] = language
        aliases.setdefault(language.lower(), language)
    for language in languages:
        aliases.setdefault(language.lower().partition("-")[0], language)
    return aliases


def _open_reader(path: Path) -> maxminddb.Reader:
    try:
        return maxminddb.open_database(str(path), maxminddb.MODE_AUTO)
    except (OSError, ValueError, maxminddb.InvalidDatabaseError) as exc:
        raise GeoDatabaseError(f"cannot open GeoIP database {path}: {exc}") from exc


def _iso_date(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()


class GeoDatabase:
    """An open city database plus an optional ASN database.

    Lookups use raw `maxminddb` records (about twice as fast as geoip2 model
    objects) and cache nothing per IP.
    """

    def __init__(
        self,
        city_path: Path,
        city: maxminddb.Reader,
        asn_path: Path | None,
        asn: maxminddb.Reader | None,
        attribution: Attribution | None,
    ) -> None:
        self._city_path = city_path
        self._city = city
        self._asn_path = asn_path
        self._asn = asn
        self._attribution = attribution
        meta = city.metadata()
        self._languages = _language_aliases(list(meta.languages))
        self._city_type: str = meta.database_type
        self._city_build_epoch: int = meta.build_epoch
        asn_meta = asn.metadata() if asn is not None else None
        self._asn_type: str | None = asn_meta.database_type if asn_meta else None
        self._asn_attribution = (
            read_sidecar_attribution(asn_path) or attribution_for_database_type(asn_meta.database_type)
            if asn_path is not None and asn_meta is not None
            else None
        )

    @classmethod
    def open(cls, city_path: Path, asn_path: Path | None = None) -> GeoDatabase:
        """Open the databases (C extension when available) or raise GeoDatabaseError."""
        city = _open_reader(city_path)
        asn: maxminddb.Reader | None = None
        try:
            city_type = city.metadata().database_type
            if "ASN" in city_type:
                raise GeoDatabaseError(f"{city_path} is a {city_type} database, not a city database")
            if asn_path is not None:
                asn = _open_reader(asn_path)
                asn_type = asn.metadata().database_type
                if "ASN" not in asn_type and "ISP" not in asn_type:
                    raise GeoDatabaseError(f"{asn_path} is a {asn_type} database, not an ASN database")
        except BaseException:
            city.close()
            if asn is not None:
                asn.close()
            raise
        attribution = read_sidecar_attribution(city_path) or attribution_for_database_type(city_type)
        return cls(city_path, city, asn_path, asn, attribution)

    def lookup(self, ip: str, language: str = "en") -> Geo:
        """Locate `ip` to city level; EMPTY_GEO for bad, private or unknown IPs.

        After `close()` this also returns EMPTY_GEO, so hits still in flight
        during shutdown degrade instead of failing. A corrupt database raises
        GeoDatabaseError, whose message and chain do not contain the IP.
        """
        corrupt = False
        try:
            record = self._city.get(ip)
        except (ValueError, TypeError):
            # maxminddb's message quotes the address: drop it, never re-raise.
            return EMPTY_GEO
        except maxminddb.InvalidDatabaseError:
            # Its message quotes the address too; raise outside this handler
            # so it is not even chained as __context__.
            corrupt = True
        if corrupt:
            raise GeoDatabaseError(f"GeoIP database {self._city_path} is corrupt")
        isp = self._isp(self._asn, ip) if self._asn is not None else ""
        if not isinstance(record, dict):
            return Geo(isp=isp) if isp else EMPTY_GEO
        return self._geo_from_record(record, language, isp)

    def _isp(self, asn: maxminddb.Reader, ip: str) -> str:
        corrupt = False
        try:
            record = asn.get(ip)
        except (ValueError, TypeError):
            return ""  # e.g. an IPv6 address and an IPv4-only ASN database
        except maxminddb.InvalidDatabaseError:
            corrupt = True
        if corrupt:
            raise GeoDatabaseError(f"GeoIP database {self._asn_path} is corrupt")
        if isinstance(record, dict):
            org = record.get("autonomous_system_organization")
            if isinstance(org, str):
                return org
        return ""

    def _geo_from_record(self, record: Mapping[str, Any], language: str, isp: str) -> Geo:
        # Only these four sub-maps are read; location, postal and the rest of
        # the record are never touched, which is how the privacy rule holds.
        country = record.get("country") or _NO_MAP
        subdivisions = record.get("subdivisions")
        subdivision = subdivisions[0] if subdivisions else _NO_MAP
        city = record.get("city") or _NO_MAP
        city_names = city.get("names") or _NO_MAP
        key = self._languages.get(language)
        if key is None:
            key = self._languages.get(language.lower().partition("-")[0], "")
        return Geo(
            country_code=country.get("iso_code", ""),
            subdivision_code=subdivision.get("iso_code", ""),
            subdivision_name=(subdivision.get("names") or _NO_MAP).get("en", ""),
            city_name=city_names.get("en", ""),
            city_name_local=city_names.get(key, ""),
            isp=isp,
        )

    def describe(self) -> dict[str, object]:
        """What `/-/health` shows: types, build dates and paths, no data."""
        attribution = self._attribution
        return {
            "database_type": self._city_type,
            "build_date": _iso_date(self._city_build_epoch),
            "path": str(self._city_path),
            "asn_database_type": self._asn_type,
            "asn_path": str(self._asn_path) if self._asn_path is not None else None,
            # The pure-Python reader is several times slower; worth seeing.
            "c_extension": type(self._city).__module__ == "maxminddb.extension",
            "attribution": (
                {"text": attribution.text, "url": attribution.url, "licence": attribution.licence}
                if attribution is not None
                else None
            ),
        }

    @property
    def attribution(self) -> Attribution | None:
        """Attribution of the city database (sidecar first, then metadata)."""
        return self._attribution

    @property
    def attributions(self) -> tuple[Attribution, ...]:
        """Every distinct credit to show: the city database's, then the ASN one's."""
        found = (self._attribution, self._asn_attribution)
        unique: list[Attribution] = []
        for attribution in found:
            if attribution is not None and attribution not in unique:
                unique.append(attribution)
        return tuple(unique)

    def close(self) -> None:
        self._city.close()
        if self._asn is not None:
            self._asn.close()

    def __enter__(self) -> GeoDatabase:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
