"""A serving process's garbage collector after start-up: start-up's objects frozen, collections rarer.

Run in a child process: freezing and thresholds are process-wide, and the test process builds many apps.
"""

from __future__ import annotations

import json
import subprocess
import sys

from gateway.web.heap import THRESHOLDS

CHILD = """
import gc, json
import gateway.app  # what a worker loads before its start-up ends
from gateway.web import heap
before = gc.get_freeze_count()
heap.settle()
print(json.dumps({"before": before, "frozen": gc.get_freeze_count(), "thresholds": gc.get_threshold(),
                  "young": gc.get_count()[0]}))
"""


def test_settle_freezes_what_start_up_loaded_and_raises_the_young_threshold() -> None:
    found = json.loads(subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True,
                                      check=True).stdout)
    assert found["before"] == 0 and found["frozen"] > 10_000  # modules, classes, functions: out of sight
    assert tuple(found["thresholds"]) == THRESHOLDS and THRESHOLDS[0] > 700
    assert found["young"] < 100  # a fresh start: nothing left over to walk
