"""A site's custom dimensions in the TOML file: names and scopes read, every mistake named by its key."""

from __future__ import annotations

import pytest

from gateway.config.dimensions import CustomDimension
from gateway.config.settings import ConfigError
from tests.conftest import SettingsFactory

SITE = """
[[sites]]
id = 7
origins = ["https://www.example.com"]
"""


def test_custom_dimensions_are_read_by_number(make_settings: SettingsFactory) -> None:
    [site] = make_settings(toml=SITE + """
[sites.custom_dimensions]
3 = { name = "Car model", scope = "action" }
1 = { name = " Customer type ", scope = "visit" }
""").sites
    assert site.custom_dimensions == (CustomDimension(1, "Customer type", "visit"),
                                      CustomDimension(3, "Car model", "action"))
    assert [d.key for d in site.custom_dimensions] == ["dimension1", "dimension3"]


def test_a_site_without_them_has_none(make_settings: SettingsFactory) -> None:
    [site] = make_settings(toml=SITE).sites
    assert site.custom_dimensions == ()


@pytest.mark.parametrize(("table", "problems"), [
    ('0 = { name = "x", scope = "visit" }', ["sites[0].custom_dimensions.0: the key must be a dimension "
                                             "number 1..999"]),
    ('1000 = { name = "x", scope = "visit" }', ["sites[0].custom_dimensions.1000: the key must be"]),
    ('dimension1 = { name = "x", scope = "visit" }', ["sites[0].custom_dimensions.dimension1: the key"]),
    ('1 = "Car model"', ["sites[0].custom_dimensions.1: must be a table like"]),
    ('1 = { scope = "visit" }', ["sites[0].custom_dimensions.1.name: required"]),
    ('1 = { name = "", scope = "visit" }', ["sites[0].custom_dimensions.1.name: required"]),
    ('1 = { name = "x" }', ["sites[0].custom_dimensions.1.scope: required, must be one of visit, action"]),
    ('1 = { name = "x", scope = "hit" }', ["sites[0].custom_dimensions.1.scope: required, must be one of "
                                           "visit, action, got 'hit'"]),
    ('1 = { name = "x", scope = "vist" }', ["did you mean 'visit'?"]),
    ('1 = { name = "x", scope = "visit", colour = "red" }', ["sites[0].custom_dimensions.1.colour: unknown"]),
    ('1 = { name = "Car", scope = "visit" }\n2 = { name = "car", scope = "action" }',
     ["sites[0].custom_dimensions.2.name: 'car' already names dimension 1"]),
    ('1 = { name = "Car\\nmodel", scope = "visit" }',
     ["sites[0].custom_dimensions.1.name: line breaks and control characters are not allowed"]),
    # Every problem at once.
    ('1 = { name = "x" }\n2 = { scope = "y" }', ["custom_dimensions.1.scope", "custom_dimensions.2.name",
                                                  "custom_dimensions.2.scope"]),
])
def test_mistakes_are_named_by_their_key(make_settings: SettingsFactory, table: str,
                                         problems: list[str]) -> None:
    with pytest.raises(ConfigError) as raised:
        make_settings(toml=SITE + "[sites.custom_dimensions]\n" + table + "\n")
    text = str(raised.value)
    assert all(problem in text for problem in problems), text


def test_not_a_table_is_named(make_settings: SettingsFactory) -> None:
    with pytest.raises(ConfigError, match=r"sites\[0\].custom_dimensions: must be a table like"):
        make_settings(toml=SITE + 'custom_dimensions = ["Car model"]\n')
