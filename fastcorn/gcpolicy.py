"""The cyclic garbage collector's young-generation threshold while the server runs.

CPython collects its youngest generation each time 700 more container objects (dicts,
lists, tasks, coroutines...) exist than at the last collection. A keep-alive server with
many connections parses a request on each ready connection before any of their app tasks
runs: with 1,000 connections a loop turn leaves ~15 live objects per request, some 15,000
in all, so the default threshold collects every ~50 requests, finds nothing to free and
promotes everything to the older generations, which are then collected more often too.
Under callgrind (``python bench/instructions.py --many``) that was +8,000 instructions
per request at 1,000 connections against 64 (35,745 -> 43,818), and perf put a sixth of
the server's time in the collector there; the default HTTP/1.1 path frees its objects by
reference counting alone, so these collections only cost.

``tune()`` raises the threshold to YOUNG_THRESHOLD when the process still has the
interpreter's default: an app (or its deployment) that set its own thresholds, or
disabled the collector, is left alone. Python 3.14's incremental collector (default
2000) is left alone too.

``follow(connections)``, once a second, keeps the threshold above what one loop turn can
leave waiting: PER_CONNECTION objects for each open connection (up to MAX_THRESHOLD),
never below YOUNG_THRESHOLD. Where apps start eagerly (asyncio on Python 3.12+) a request
leaves few objects waiting; on older Pythons and on trio every ready connection's request
waits for its task with ~15-20 objects, and 10,000 was again collected every turn at
1,000 connections. It changes only a threshold it set itself: one the app set meanwhile
stays, and the policy stops.
"""

from __future__ import annotations

import gc

# The generational default of CPython 3.8 to 3.13.
DEFAULT_YOUNG_THRESHOLD = 700
# Measured with bench/instructions.py --many (instructions per request, 64 / 1,000
# connections): 700: 35,745 / 43,818; 10,000: 35,268 / 38,402; 50,000: 35,334 / 37,522.
# 10,000 takes most of the gain while keeping each young collection short (it walks at
# most this many objects: well under a millisecond).
YOUNG_THRESHOLD = 10_000
# Objects a waiting request holds, with room: bench/instructions.py --many on Python 3.11,
# 1,000 connections (see follow()).
PER_CONNECTION = 30
# A young collection walks at most this many objects (a few milliseconds at worst).
MAX_THRESHOLD = 100_000

_ours: int | None = None  # the young threshold this module set, while it is in force


def tune() -> bool:
    """Raise the young-generation threshold if it is still the default; True if it did."""
    global _ours
    young, *older = gc.get_threshold()
    if young != DEFAULT_YOUNG_THRESHOLD or not gc.isenabled():
        return False
    gc.set_threshold(YOUNG_THRESHOLD, *older)
    _ours = YOUNG_THRESHOLD
    return True


def follow(connections: int) -> None:
    """Scale the young threshold with the open connections (see the module's docstring)."""
    global _ours
    if _ours is None:
        return
    young, *older = gc.get_threshold()
    if young != _ours or not gc.isenabled():
        _ours = None  # the app took over
        return
    wanted = min(max(YOUNG_THRESHOLD, PER_CONNECTION * connections), MAX_THRESHOLD)
    if wanted != young:
        gc.set_threshold(wanted, *older)
        _ours = wanted
