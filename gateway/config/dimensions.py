"""A site's custom dimensions: the names and scopes of the ``dimensionN`` values its tracker sends.

Hits carry ``dimension1``..``dimension999`` as Matomo's tracker sends them (``gateway.ingest.hit``);
which of them a site reports, under which name, and whether a value describes the whole visit or
one action, is configuration, as in Matomo's Custom Dimensions plugin:

    [sites.custom_dimensions]
    1 = { name = "Car model", scope = "action" }
    2 = { name = "Customer type", scope = "visit" }

Every problem is reported at once, each naming its key (``sites[0].custom_dimensions.1.scope``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gateway.config.errors import ConfigError, Problems, not_a_choice

VISIT_SCOPE, ACTION_SCOPE = "visit", "action"
SCOPES = (VISIT_SCOPE, ACTION_SCOPE)
MAX_INDEX = 999  # the tracker's dimension1..dimension999 (gateway/ingest/hit.py)
MAX_NAME = 64
KEYS = {"name": f"the name dashboards show, 1..{MAX_NAME} characters",
        "scope": "visit (one value per visit: the last one its hits set) or action (a value per action)"}
HELP = (f"Table of dimension number (1..{MAX_INDEX}) = {{name = \"Car model\", scope = \"visit\" or "
        "\"action\"}: the dimensionN values reported, and filterable, under that name")


@dataclass(frozen=True, slots=True)
class CustomDimension:
    index: int  # N of the tracker's dimensionN
    name: str
    scope: str  # VISIT_SCOPE or ACTION_SCOPE

    @property
    def key(self) -> str:
        """The parameter name: in hits (stored under it in ``events.dimensions``) and in dashboard URLs."""
        return f"dimension{self.index}"


def custom_dimensions_from_table(raw: object, where: str) -> tuple[CustomDimension, ...]:
    """The dimensions of one ``custom_dimensions`` table, by number; a ConfigError lists every problem."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: must be a table like {{1 = {{name = \"Car model\", scope = "
                          f"\"action\"}}}}, got {raw!r}")
    problems = Problems()
    found: list[CustomDimension] = []
    names: dict[str, str] = {}
    for number, entry in raw.items():
        at = f"{where}.{number}"
        if re.fullmatch(r"[1-9][0-9]{0,2}", str(number)) is None:
            problems.add(f"{at}: the key must be a dimension number 1..{MAX_INDEX} (dimension1 is 1)")
            continue
        if not isinstance(entry, dict):
            problems.add(f"{at}: must be a table like {{name = \"Car model\", scope = \"action\"}}")
            continue
        problems.unknown_keys(entry, KEYS, f"{at}.")
        name, scope = entry.get("name"), entry.get("scope")
        if not isinstance(name, str) or not 0 < len(name.strip()) <= MAX_NAME:
            problems.add(f"{at}.name: required, a string of 1..{MAX_NAME} characters, got {name!r}")
            name = None
        elif not name.isprintable():  # a name is one line on a chip, a column head, a CSV header
            problems.add(f"{at}.name: line breaks and control characters are not allowed, got {name!r}")
            name = None
        elif name.strip().casefold() in names:
            problems.add(f"{at}.name: {name!r} already names dimension {names[name.strip().casefold()]}")
        else:
            names[name.strip().casefold()] = str(number)
        if scope not in SCOPES:
            problems.add(f"{at}.scope: required, {not_a_choice(scope, SCOPES)}")
            scope = None
        if name is not None and scope is not None:
            found.append(CustomDimension(int(number), name.strip(), str(scope)))
    problems.raise_if_any()
    return tuple(sorted(found, key=lambda d: d.index))
