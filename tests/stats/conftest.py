"""The hand-made shop, loaded once per test module: most stats tests only read it.

A database per test (the ``db`` fixture) costs ~0.5 s to create and migrate; the read-only tests
share one per module instead, on the session's embedded engine folder, dropped at the end.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.storage.clickhouse import Database, connect
from tests.stats.data import load, shop_hits


@pytest.fixture(scope="module")
def shop(chdb_path: Path) -> Iterator[Database]:
    name = f"shop_{uuid.uuid4().hex[:12]}"
    database = load(connect(f"chdb://{chdb_path}?database={name}"), shop_hits())
    yield database
    database.command(f"DROP DATABASE IF EXISTS `{name}` SYNC")
    database.close()
