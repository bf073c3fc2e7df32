"""Tests for gateway.geoip.lookup: lookups on the tiny fixture databases."""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import maxminddb
import pytest

from gateway.geoip.lookup import (
    DBIP_ATTRIBUTION,
    EMPTY_GEO,
    GEOLITE2_ATTRIBUTION,
    Attribution,
    Geo,
    GeoDatabase,
    GeoDatabaseError,
    GeoLookup,
    attribution_for_database_type,
    sidecar_path,
)
from tests.geoip_fixture import (
    ASN_ONLY_IP,
    CHANGCHUN,
    FIXTURE_BUILD_EPOCH,
    ISP_NAME,
    KNOWN_RANGES,
    LINKOPING,
    LONDON,
    MALFORMED_IPS,
    PRIVATE_IP,
    SAMPLE_GEOS,
    UNKNOWN_IP,
    build_asn_db,
    build_city_db,
    corrupt_data_section,
    expected_geo,
)


@pytest.fixture(scope="module")
def db_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("geoip")
    build_city_db(directory / "city.mmdb")
    build_asn_db(directory / "asn.mmdb")
    return directory


@pytest.fixture(scope="module")
def geo(db_dir: Path) -> Iterator[GeoDatabase]:
    with GeoDatabase.open(db_dir / "city.mmdb", db_dir / "asn.mmdb") as database:
        yield database


@pytest.fixture(scope="module")
def city_only(db_dir: Path) -> Iterator[GeoDatabase]:
    with GeoDatabase.open(db_dir / "city.mmdb") as database:
        yield database


@pytest.mark.parametrize(("ip", "expected"), sorted(SAMPLE_GEOS.items()))
def test_lookup_known_ranges(geo: GeoDatabase, ip: str, expected: Geo) -> None:
    assert geo.lookup(ip) == expected


@pytest.mark.parametrize("ip", sorted(SAMPLE_GEOS))
def test_lookup_without_asn_database_has_no_isp(city_only: GeoDatabase, ip: str) -> None:
    assert city_only.lookup(ip) == expected_geo(ip, with_asn=False)


@pytest.mark.parametrize(
    "ip",
    [
        "81.2.69.1",  # another host in the same /24
        "::ffff:81.2.69.142",  # IPv4-mapped, as a dual-stack socket reports it
        "::FFFF:81.2.69.142",
        "2002:5102:458e::1",  # 6to4 form of 81.2.69.142
        "::81.2.69.142",  # IPv4-compatible
    ],
)
def test_ipv4_forms_find_the_ipv4_record(geo: GeoDatabase, ip: str) -> None:
    assert geo.lookup(ip) == SAMPLE_GEOS[LONDON.sample_ip]


@pytest.mark.parametrize(
    "ip", [PRIVATE_IP, "192.168.1.1", "127.0.0.1", "::1", "fe80::1", UNKNOWN_IP, "0.0.0.0"]
)
def test_private_and_unknown_ips_are_empty(geo: GeoDatabase, ip: str) -> None:
    assert geo.lookup(ip) is EMPTY_GEO


@pytest.mark.parametrize("ip", MALFORMED_IPS)
def test_malformed_ips_are_empty_and_not_logged(
    geo: GeoDatabase, ip: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        assert geo.lookup(ip) is EMPTY_GEO
    assert caplog.records == []


@pytest.mark.parametrize("value", [None, 42, b"81.2.69.142"])
def test_non_string_ip_is_empty(geo: GeoDatabase, value: object) -> None:
    assert geo.lookup(cast(str, value)) is EMPTY_GEO


def test_asn_only_range_gives_isp_alone(geo: GeoDatabase) -> None:
    assert geo.lookup(ASN_ONLY_IP) == Geo(isp=ISP_NAME)


@pytest.mark.parametrize(
    ("ip", "language", "local"),
    [
        (CHANGCHUN.sample_ip, "zh-CN", "长春"),
        (CHANGCHUN.sample_ip, "zh", "长春"),  # primary subtag finds zh-CN
        (CHANGCHUN.sample_ip, "ZH-cn", "长春"),  # header casing
        (CHANGCHUN.sample_ip, "de-AT", "Changchun"),  # region falls back to de
        (CHANGCHUN.sample_ip, "en", "Changchun"),
        (CHANGCHUN.sample_ip, "xx", ""),  # not in the database
        (CHANGCHUN.sample_ip, "", ""),
        (LINKOPING.sample_ip, "zh-CN", ""),  # database lacks this city's zh-CN name
        (LINKOPING.sample_ip, "de", "Linköping"),
    ],
)
def test_local_city_name(geo: GeoDatabase, ip: str, language: str, local: str) -> None:
    found = geo.lookup(ip, language)
    assert found.city_name_local == local
    # The English fields never change with the language.
    assert dataclasses.replace(found, city_name_local="") == dataclasses.replace(
        expected_geo(ip), city_name_local=""
    )


def test_subdivision_is_the_first_and_largest(geo: GeoDatabase) -> None:
    # The fixture gives London a second, smaller subdivision ("ZZZ").
    found = geo.lookup(LONDON.sample_ip)
    assert (found.subdivision_code, found.subdivision_name) == ("ENG", "England")


def test_geo_has_nothing_finer_than_the_city() -> None:
    assert [f.name for f in dataclasses.fields(Geo)] == [
        "country_code",
        "subdivision_code",
        "subdivision_name",
        "city_name",
        "city_name_local",
        "isp",
    ]


@pytest.mark.parametrize("known", KNOWN_RANGES, ids=lambda known: known.network)
def test_fine_grained_fields_in_the_database_are_dropped(db_dir: Path, geo: GeoDatabase, known: Any) -> None:
    with maxminddb.open_database(str(db_dir / "city.mmdb")) as reader:
        record = reader.get(known.sample_ip)
    assert isinstance(record, dict) and "location" in record  # the fixture really has them
    shown = repr(geo.lookup(known.sample_ip, "zh-CN"))
    for secret in (str(known.latitude), str(known.longitude), known.postal_code or "\0", "501", "accuracy"):
        assert secret not in shown


def test_geo_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        EMPTY_GEO.country_code = "GB"  # type: ignore[misc]


def test_describe(geo: GeoDatabase, db_dir: Path) -> None:
    assert geo.describe() == {
        "database_type": "GeoLite2-City",
        "build_date": "2023-11-14T22:13:20+00:00",
        "path": str(db_dir / "city.mmdb"),
        "asn_database_type": "GeoLite2-ASN",
        "asn_path": str(db_dir / "asn.mmdb"),
        "c_extension": True,
        "attribution": {
            "text": GEOLITE2_ATTRIBUTION.text,
            "url": GEOLITE2_ATTRIBUTION.url,
            "licence": GEOLITE2_ATTRIBUTION.licence,
        },
    }
    assert FIXTURE_BUILD_EPOCH == 1_700_000_000
    json.dumps(geo.describe())  # health output must serialise


def test_describe_without_asn(city_only: GeoDatabase) -> None:
    description = city_only.describe()
    assert description["asn_database_type"] is None
    assert description["asn_path"] is None


def test_attribution_inferred_from_metadata(geo: GeoDatabase) -> None:
    assert geo.attribution == GEOLITE2_ATTRIBUTION
    assert geo.attributions == (GEOLITE2_ATTRIBUTION,)  # the ASN one is the same credit


@pytest.mark.parametrize(
    ("database_type", "expected"),
    [
        ("GeoLite2-City", GEOLITE2_ATTRIBUTION),
        ("GeoLite2-ASN", GEOLITE2_ATTRIBUTION),
        ("DBIP-City-Lite", DBIP_ATTRIBUTION),
        ("GeoIP2-City", None),  # commercial: the licence is the buyer's business
        ("", None),
    ],
)
def test_attribution_for_database_type(database_type: str, expected: Attribution | None) -> None:
    assert attribution_for_database_type(database_type) == expected


def test_attribution_from_sidecar_wins(tmp_path: Path) -> None:
    city = build_city_db(tmp_path / "city.mmdb")
    sidecar_path(city).write_text(
        json.dumps({"attribution_text": "Credit X", "attribution_url": "https://x.example", "licence": "L"})
    )
    with GeoDatabase.open(city) as database:
        assert database.attribution == Attribution("Credit X", "https://x.example", "L")


@pytest.mark.parametrize("content", ["{not json", "[]", json.dumps({"attribution_text": 3})])
def test_broken_sidecar_falls_back_to_metadata(tmp_path: Path, content: str) -> None:
    city = build_city_db(tmp_path / "city.mmdb", database_type="DBIP-City-Lite")
    sidecar_path(city).write_text(content)
    with GeoDatabase.open(city) as database:
        assert database.attribution == DBIP_ATTRIBUTION


def test_unknown_database_type_has_no_attribution(tmp_path: Path) -> None:
    city = build_city_db(tmp_path / "city.mmdb", database_type="GeoIP2-City")
    with GeoDatabase.open(city) as database:
        assert database.attribution is None
        assert database.attributions == ()
        assert database.describe()["attribution"] is None


def test_attributions_list_both_sources(tmp_path: Path) -> None:
    city = build_city_db(tmp_path / "city.mmdb", database_type="DBIP-City-Lite")
    asn = build_asn_db(tmp_path / "asn.mmdb")
    with GeoDatabase.open(city, asn) as database:
        assert database.attributions == (DBIP_ATTRIBUTION, GEOLITE2_ATTRIBUTION)


def test_open_missing_file(tmp_path: Path) -> None:
    with pytest.raises(GeoDatabaseError, match="cannot open"):
        GeoDatabase.open(tmp_path / "nope.mmdb")


def test_open_garbage_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.mmdb"
    bad.write_bytes(b"this is not a MaxMind DB" * 100)
    with pytest.raises(GeoDatabaseError, match="cannot open"):
        GeoDatabase.open(bad)


def test_open_rejects_swapped_databases(db_dir: Path) -> None:
    with pytest.raises(GeoDatabaseError, match="not a city database"):
        GeoDatabase.open(db_dir / "asn.mmdb")
    with pytest.raises(GeoDatabaseError, match="not an ASN database"):
        GeoDatabase.open(db_dir / "city.mmdb", db_dir / "city.mmdb")


@pytest.mark.parametrize("which", ["city", "asn"])
def test_corrupt_database_error_does_not_carry_the_ip(tmp_path: Path, which: str) -> None:
    city = build_city_db(tmp_path / "city.mmdb")
    asn = build_asn_db(tmp_path / "asn.mmdb")
    corrupt_data_section(city if which == "city" else asn)
    with GeoDatabase.open(city, asn) as database, pytest.raises(GeoDatabaseError, match="is corrupt") as info:
        database.lookup(LONDON.sample_ip)
    # maxminddb's own error quotes the address; none of it may survive.
    error: BaseException | None = info.value
    while error is not None:
        assert LONDON.sample_ip not in str(error)
        assert error.__cause__ is None
        error = error.__context__


def test_lookup_after_close_is_empty(db_dir: Path) -> None:
    database = GeoDatabase.open(db_dir / "city.mmdb", db_dir / "asn.mmdb")
    database.close()
    assert database.lookup(LONDON.sample_ip) is EMPTY_GEO


def test_a_fake_satisfies_geolookup() -> None:
    class FakeGeo:
        def lookup(self, ip: str, language: str = "en") -> Geo:
            return Geo(country_code="GB") if ip == LONDON.sample_ip else EMPTY_GEO

    lookup: GeoLookup = FakeGeo()
    assert lookup.lookup(LONDON.sample_ip).country_code == "GB"


def test_fixture_is_deterministic(tmp_path: Path, db_dir: Path) -> None:
    rebuilt = build_city_db(tmp_path / "again.mmdb")
    assert rebuilt.read_bytes() == (db_dir / "city.mmdb").read_bytes()
