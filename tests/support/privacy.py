"""Privacy checks shared by tests: find anything shaped like an IP address in stored strings."""

from __future__ import annotations

import re

from gateway.storage.clickhouse import Database

IP_SHAPED = r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])|\b[0-9a-fA-F]{1,4}(:[0-9a-fA-F]{0,4}){2,7}\b"


def ip_shaped_values(db: Database) -> tuple[int, list[tuple[str, str, str]]]:
    """(string columns scanned, (table, column, value) of every value that looks like an IP)."""
    columns = db.query("SELECT table, name FROM system.columns WHERE database = currentDatabase() "
                       "AND (type LIKE '%String%')")
    found = []
    for table, column in columns:
        for (value,) in db.query(f"SELECT DISTINCT toString(`{column}`) FROM `{table}`"):
            if re.search(IP_SHAPED, value):
                found.append((table, column, value))
    return len(columns), found
