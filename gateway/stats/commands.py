"""``consent-gateway stats rebuild``: rebuild the visit summary of closed days (``gateway.stats.operations``).

Through the serving gateway when one holds the embedded ClickHouse, directly otherwise. Errors are one
line on stderr and exit 1.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from gateway.config.settings import Settings


def add_parser(commands: Any) -> None:
    stats = commands.add_parser("stats", help="the dashboards' stored visit summary")
    sub = stats.add_subparsers(dest="stats_command", required=True, metavar="COMMAND")
    rebuild = sub.add_parser("rebuild", help="build the visit summary of closed days again (all sites and "
                             "days by default)")
    rebuild.add_argument("--site", type=int, metavar="ID")
    rebuild.add_argument("--from", dest="first", metavar="YYYY-MM-DD", help="first local day (default: the "
                         "oldest kept)")
    rebuild.add_argument("--to", dest="last", metavar="YYYY-MM-DD", help="last local day (default: the "
                         "newest closed)")


def run(settings: Settings, args: argparse.Namespace) -> int:
    from gateway.control import ControlError, run_operation

    params = {"site": args.site, "from": args.first, "to": args.last}
    try:
        result = asyncio.run(run_operation(settings, f"stats.{args.stats_command}", params))
    except ControlError as exc:
        print(f"consent-gateway: {exc}", file=sys.stderr)
        return 1
    for entry in result:
        raced = f" ({entry['raced']} changed meanwhile: the next run builds them)" if entry["raced"] else ""
        print(f"site {entry['site']}: rebuilt {entry['built']} day(s) with visits and {entry['empty']} "
              f"without{raced}")
    return 0
