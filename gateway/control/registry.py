"""Operations by name: what they receive, how they fail, and running one the same way everywhere."""

from __future__ import annotations

import importlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from gateway.config.settings import Settings
from gateway.storage.clickhouse import Database

# Imported before an operation is looked up; a module not written yet is skipped.
OPERATION_MODULES = ("gateway.consent.operations", "gateway.rights.operations", "gateway.stats.operations")


@dataclass(frozen=True, slots=True)
class OpContext:
    settings: Settings
    db: Database
    state: Any | None  # the running app's ``app.state`` (resources.writer, …); None when run directly


Operation = Callable[[OpContext, dict[str, Any]], Awaitable[Any]]
_OPERATIONS: dict[str, Operation] = {}


class ControlError(Exception):
    """One line for the user: bad input, nothing found, or neither the gateway nor ClickHouse reachable."""


def operation(name: str) -> Callable[[Operation], Operation]:
    """Register an operation under ``name`` (``"area.verb"``, e.g. ``"consent.show"``)."""

    def register(function: Operation) -> Operation:
        if _OPERATIONS.setdefault(name, function) is not function:
            raise ValueError(f"operation {name!r} is registered twice")
        return function

    return register


def operations() -> dict[str, Operation]:
    """Every registered operation, once ``OPERATION_MODULES`` are imported."""
    for module in OPERATION_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
    return _OPERATIONS


async def perform(context: OpContext, name: str, args: Any) -> Any:
    """Run ``name`` with ``args``; ControlError for an unknown name or arguments that are not an object."""
    function = operations().get(name)
    if function is None:
        raise ControlError(f"unknown operation {name[:64]!r}")
    if not isinstance(args, dict):
        raise ControlError("the arguments must be a JSON object")
    # Through JSON in both places, so the CLI sees the same data whichever way the operation ran.
    return json.loads(json.dumps(await function(context, args)))


def one_line(exc: BaseException) -> str:
    """An unexpected exception as one line: its type and the first line that says something."""
    first = next((line.strip() for line in str(exc).splitlines() if line.strip()), "")
    return f"{type(exc).__name__}: {first[:300]}" if first else type(exc).__name__
