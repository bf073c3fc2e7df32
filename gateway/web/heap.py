"""The garbage collector of a serving process: what start-up loaded is frozen, and collections are rarer.

CPython's cyclic collector runs whenever 700 more container objects were made than freed. A worker
under load makes a few hundred per hit, so with the defaults it ran a young collection every ~20
hits and a full one every few thousand, each walking every object start-up left behind (modules,
the user-agent rules, the settings: ~100,000) plus the rows waiting for ClickHouse. Measured in
process (issue 19, 18,000 hits): 1.1 s of CPU in collections, the longest 95 ms, a stall of every
request on the loop. After ``settle()``: the start-up objects are frozen out of the collector's
sight (``gc.freeze``), and young collections wait for 10,000 objects, so the same hits cost ~0.1 s
in collections. Reference counting still frees nearly everything at once; only cycles wait longer,
and the gateway makes few (a few thousand objects over those 18,000 hits).

Called once by the serving process when its start-up is over (``serve``'s workers), not by tests,
which build many apps in one process.
"""

from __future__ import annotations

import gc

THRESHOLDS = (10_000, 10, 10)  # young collection after this many new containers; then CPython's ratios


def settle() -> None:
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
