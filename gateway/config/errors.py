"""Configuration errors: every problem of a configuration found in one pass, each naming its key.

Loading does not stop at the first bad value: each key is checked and its problem collected, so one
run of ``check-config`` (or a failed ``serve``) lists everything to fix. A problem is one line that
starts with where it is (an environment variable, or the file and its key such as ``sites[0].timezone``)
and says what is expected: the known keys for an unknown one, the choices for a closed set, or the
form of a value; a close match is offered as "did you mean".
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

T = TypeVar("T")


class ConfigError(ValueError):
    """Invalid configuration: ``problems`` holds every problem found, each a line starting with its key."""

    def __init__(self, problems: str | Sequence[str]) -> None:
        self.problems = (problems,) if isinstance(problems, str) else tuple(problems)
        super().__init__("\n".join(self.problems))


def did_you_mean(value: str, choices: Iterable[str]) -> str:
    """``'; did you mean "x"?'`` when one of ``choices`` is close to ``value``, else ``""``."""
    close = difflib.get_close_matches(value, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def unknown_key(key: str, known: Iterable[str], what: str = "key") -> str:
    """The problem of an unknown key: a close match, then every known key."""
    names = list(known)
    return f"unknown {what}{did_you_mean(key, names)} (known: {', '.join(names)})"


def not_a_choice(value: object, choices: Sequence[str]) -> str:
    """The problem of a value outside a closed set: the choices, and a close match."""
    hint = did_you_mean(value, choices) if isinstance(value, str) else ""
    return f"must be one of {', '.join(choices)}, got {value!r}{hint}"


class Problems:
    """Collects the problems of one configuration, to be raised together."""

    def __init__(self) -> None:
        self.found: list[str] = []

    def add(self, problem: str) -> None:
        self.found.append(problem)

    def unknown_keys(self, table: Iterable[str], known: Iterable[str], where: str) -> None:
        names = list(known)
        for key in sorted(set(table) - set(names)):
            self.add(f"{where}{key}: {unknown_key(key, names)}")

    def attempt(self, parse: Callable[[], T], fallback: T) -> T:
        """``parse()``, or ``fallback`` with its problems recorded when it raises a ConfigError."""
        try:
            return parse()
        except ConfigError as exc:
            self.found.extend(exc.problems)
            return fallback

    def raise_if_any(self, error: type[ConfigError] = ConfigError) -> None:
        if self.found:
            raise error(self.found)
