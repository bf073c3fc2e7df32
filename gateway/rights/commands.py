"""``consent-gateway rights export|erase|log``: the site owner's data-request tools on the command line.

They run as operations (``gateway.rights.operations``): through the serving gateway when one holds
the embedded ClickHouse, directly otherwise. Errors are one line on stderr and exit 1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from gateway.config.settings import Settings


def add_parser(commands: Any) -> None:
    rights = commands.add_parser("rights", help="visitors' data requests: export, erase, and their audit log")
    sub = rights.add_subparsers(dest="rights_command", required=True, metavar="COMMAND")
    for name, text in (("export", "a visitor's consent history and events as JSON (GDPR Art. 15, 20)"),
                       ("erase", "erase every event of a visitor; the decision becomes a refusal (Art. 17)")):
        command = sub.add_parser(name, help=text)
        command.add_argument("--site", type=int, required=True, metavar="ID")
        who = command.add_mutually_exclusive_group(required=True)
        who.add_argument("--consent", metavar="ID", help="the consent id from the visitor's receipt")
        who.add_argument("--uid", metavar="UID", help="the site's own user id (Matomo uid)")
        if name == "export":
            command.add_argument("-o", "--output", type=Path, metavar="FILE", help="write here, not stdout")
    log = sub.add_parser("log", help="the audit trail of exports and erasures, newest first")
    log.add_argument("--site", type=int, metavar="ID")
    log.add_argument("--limit", type=int, default=100)
    log.add_argument("--json", action="store_true")


def run(settings: Settings, args: argparse.Namespace) -> int:
    from gateway.control import ControlError, run_operation

    command = args.rights_command
    params: dict[str, Any] = {"site": args.site, "limit": getattr(args, "limit", 100),
                              "consent": getattr(args, "consent", None), "uid": getattr(args, "uid", None)}
    try:
        result = asyncio.run(run_operation(settings, f"rights.{command}", params))
    except ControlError as exc:
        print(f"consent-gateway: {exc}", file=sys.stderr)
        return 1
    if command == "export":
        text = json.dumps(result, indent=2, ensure_ascii=False) + "\n"
        if args.output is None:
            sys.stdout.write(text)
        else:
            args.output.write_text(text, encoding="utf-8")
            print(f"wrote {result['event_count']} event(s) and {len(result['decisions'])} decision(s) "
                  f"to {args.output}")
    elif command == "erase":
        print(f"erased {result['erased']} event(s) of {len(result['consent_ids'])} consent id(s) on site "
              f"{result['site']}: {', '.join(result['consent_ids'])}")
    elif args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        for entry in result:
            print(f"{entry['time']}  site {entry['site']}  {entry['kind']:<6}  by {entry['requested_by']}"
                  f"{' (' + entry['operator'] + ')' if entry['operator'] else ''}  "
                  f"{entry['subject']} {entry['consent_id'] or '-'}  events {entry['events']}  "
                  f"decisions {entry['decisions']}")
    return 0
