"""Typed reads from a TOML table, each failing with a ConfigError that names ``where.key`` and says
what is expected (the form, or the choices with a close match). Used by the nested parts of a site's
table (its consent keys, banner and categories)."""

from __future__ import annotations

from typing import Any

from gateway.config.errors import ConfigError, not_a_choice, unknown_key


def no_unknown(table: dict[str, Any], known: set[str], where: str) -> None:
    if unknown := sorted(set(table) - known):
        raise ConfigError(f"{where}.{unknown[0]}: {unknown_key(unknown[0], sorted(known))}")


def text(table: dict[str, Any], key: str, default: str, where: str) -> str:
    value = table.get(key, default)
    if not isinstance(value, str):
        raise ConfigError(f"{where}.{key}: must be a string, got {value!r}")
    return value


def text_list(table: dict[str, Any], key: str, default: list[str], where: str) -> list[str]:
    value = table.get(key, default)
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"{where}.{key}: must be a list of non-empty strings")
    return value


def flag(table: dict[str, Any], key: str, default: bool, where: str) -> bool:
    value = table.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError(f"{where}.{key}: must be true or false, got {value!r}")
    return value


def integer(table: dict[str, Any], key: str, default: int, low: int, high: int, where: str) -> int:
    value = table.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ConfigError(f"{where}.{key}: must be an integer from {low} to {high}, got {value!r}")
    return value


def choice(table: dict[str, Any], key: str, choices: tuple[str, ...], where: str) -> str:
    value = table.get(key, choices[0])
    if value not in choices:
        raise ConfigError(f"{where}.{key}: {not_a_choice(value, choices)}")
    return str(value)
