"""Configuration errors: every problem of a configuration reported at once, each with its key and choices."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config.errors import ConfigError, did_you_mean, not_a_choice, unknown_key
from gateway.config.settings import FIELDS
from tests.conftest import SettingsFactory

SITE = """
[[sites]]
id = 7
origins = ["https://shop.example"]
"""


def problems(make_settings: SettingsFactory, env: dict[str, str] | None = None,
             toml: str | None = None) -> list[str]:
    """The problems of a configuration, which must not load."""
    with pytest.raises(ConfigError) as caught:
        make_settings(env, toml)
    assert str(caught.value) == "\n".join(caught.value.problems)
    return list(caught.value.problems)


def test_every_key_at_fault_is_reported_in_one_error(make_settings: SettingsFactory, tmp_path: Path) -> None:
    toml = (
        'colour = "blue"\nwriter_batch_size = 0\n'
        + SITE.replace('origins = ["https://shop.example"]', 'origins = ["ftp://shop.example"]\nzone = "UTC"')
        + 'timezone = "Mars/Olympus"\nretention_days = "long"\n'
        + 'banner = { position = "top", theme = "pink" }\n'
        + SITE.replace("id = 7", "id = 8") + "consent_lifetime_days = 0\ngpc_is_refusal = 1\n"
    )
    found = problems(make_settings, {"GATEWAY_LOG_LEVEL": "loud", "GATEWAY_COLOUR": "red"}, toml)
    config = tmp_path / "gateway.toml"
    keys = [p.split(": ")[0] if p.startswith("GATEWAY_") else p.removeprefix(f"{config}: ").split(":")[0]
            for p in found]
    assert keys == ["GATEWAY_COLOUR", "colour", "writer_batch_size", "GATEWAY_LOG_LEVEL", "sites[0].zone",
                    "sites[0].origins", "sites[0].timezone", "sites[0].retention_days",
                    "sites[0].banner.position", "sites[0].banner.theme", "sites[1].consent_lifetime_days",
                    "sites[1].gpc_is_refusal"]


def test_an_unknown_key_lists_the_known_ones_and_the_closest(make_settings: SettingsFactory) -> None:
    [typo] = problems(make_settings, toml='log_levl = "debug"\n')
    known = ", ".join([*(f.name for f in FIELDS), "sites"])
    assert typo.endswith(f"log_levl: unknown key; did you mean 'log_level'? (known: {known})")
    [far] = problems(make_settings, toml='colour = "blue"\n')
    assert far.endswith(f"colour: unknown key (known: {known})")
    [plural] = problems(make_settings, toml='[[site]]\nid = 1\norigins = ["https://a.example"]\n')
    assert "site: unknown key; did you mean 'sites'?" in plural
    [in_site] = problems(make_settings, toml=SITE + 'time_zone = "UTC"\n')
    assert "sites[0].time_zone: unknown key; did you mean 'timezone'? (known: id, name, origins, " in in_site
    [env] = problems(make_settings, {"GATEWAY_LOGLEVEL": "debug"})
    assert env.startswith("GATEWAY_LOGLEVEL: unknown setting; did you mean 'GATEWAY_LOG_LEVEL'? (known: ")


@pytest.mark.parametrize(("env", "toml", "expected"), [
    ({"GATEWAY_LOG_LEVEL": "warn"}, None,
     "GATEWAY_LOG_LEVEL: must be one of debug, info, warning, error, got 'warn'; did you mean 'warning'?"),
    ({}, SITE + 'timezone = "Europe/Berln"\n', "sites[0].timezone: unknown time zone 'Europe/Berln': an "
     "IANA name such as Europe/Berlin, America/New_York or UTC; did you mean 'Europe/Berlin'?"),
    ({}, SITE + 'timezone = "Europe"\n', "sites[0].timezone: unknown time zone 'Europe': an IANA name such "
     "as Europe/Berlin, America/New_York or UTC; did you mean 'Europe/Rome'?"),  # a folder: OSError, once
    ({}, SITE + 'banner_scope = "opt-in"\n', "sites[0].banner_scope: must be one of everywhere, opt-in-only, "
     "got 'opt-in'; did you mean 'opt-in-only'?"),
    ({}, SITE + 'banner = { position = "botom" }\n',
     "sites[0].banner.position: must be one of bottom, center, corner, got 'botom'; did you mean 'bottom'?"),
    ({}, SITE + "retention_days = true\n", "sites[0].retention_days: must be an integer, got True"),
    ({}, SITE + 'keep_url_fragment = "yes"\n',
     "sites[0].keep_url_fragment: must be true or false, got 'yes'"),
    ({}, SITE + 'opt_out_defaults = ["stats"]\n',
     "sites[0].opt_out_defaults: unknown category 'stats' (categories: necessary, analytics, marketing)"),
])
def test_a_bad_value_says_what_is_expected(make_settings: SettingsFactory, env: dict[str, str],
                                           toml: str | None, expected: str) -> None:
    [problem] = problems(make_settings, env, toml)
    assert problem.endswith(expected)


def test_a_missing_key_is_named_with_what_it_holds(make_settings: SettingsFactory) -> None:
    found = problems(make_settings, toml='[[sites]]\nname = "No id"\n')
    assert [p.split(": ", 1)[1] for p in found] == [
        "sites[0].id: required (integer, unique, > 0)",
        "sites[0].origins: required (list of allowed page origins: exact, https://*.example.com, or "
        "http://host:*)"]


def test_helpers_offer_a_close_match_only() -> None:
    assert did_you_mean("infoo", ["debug", "info"]) == "; did you mean 'info'?"
    assert did_you_mean("xyz", ["debug", "info"]) == ""
    assert unknown_key("nmae", ["id", "name"]) == "unknown key; did you mean 'name'? (known: id, name)"
    assert not_a_choice(3, ("a", "b")) == "must be one of a, b, got 3"
    assert ConfigError("one").problems == ("one",)
