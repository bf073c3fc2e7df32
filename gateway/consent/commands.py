"""``consent-gateway consent show ID``: a consent's history, as proof for the site owner.

Runs the ``consent.show`` operation (gateway/consent/operations.py) through the serving gateway when
it holds embedded ClickHouse, directly otherwise, and prints it for a person or as JSON.
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid

from gateway.config.settings import Settings
from gateway.control import ControlError, run_operation


def consent_show(settings: Settings, raw_id: str, as_json: bool) -> int:
    try:
        consent_id = uuid.UUID(raw_id)
    except ValueError:
        print(f"consent-gateway: {raw_id!r} is not a consent id", file=sys.stderr)
        return 2
    try:
        # Through the gateway when it serves (it holds embedded ClickHouse), else directly.
        proofs = asyncio.run(run_operation(settings, "consent.show", {"consent_id": str(consent_id)}))
    except ControlError as exc:
        print(f"consent-gateway: {exc}", file=sys.stderr)
        return 1
    if as_json:
        print(json.dumps(proofs[0] if len(proofs) == 1 else proofs, indent=2, ensure_ascii=False))
        return 0
    for found in proofs:
        print(f"consent {found['consent_id']}, site {found['site']} (current policy "
              f"{found['current_policy_version']})")
        for d in found["decisions"]:
            policy = d["policy_version"] + ("" if d["policy_current"] else " (superseded)")
            print(f"  {d['time']}  {d['action']:<8}  {','.join(d['categories']):<32}  policy {policy}  "
                  f"source {d['source']}  shown {d['banner_version']}  language {d['language'] or '-'}  "
                  f"country {d['country_code'] or '-'}  browser {d['browser_family'] or '-'}  "
                  f"via {d['gateway_instance']}")
        for config_hash, shown in found["shown"].items():
            languages = ", ".join(sorted(shown["config"]["texts"])) or "built-in texts"
            print(f"  banner configuration {config_hash}, first served {shown['first_seen']}: texts in "
                  f"{languages}; categories {', '.join(c['id'] for c in shown['config']['categories'])}")
    return 0
