"""The timing loop every in-process speed comparison here uses (the README's rule for A/B figures).

``alternate(sides, rounds)``: one untimed warm-up call per side, then ``rounds`` rounds of one timed
call per side, the side order reversed every other round, so a cold start, another process's load or
the allocator's first page faults fall on every side alike. Report medians of what it returns.
"""

from __future__ import annotations

import time
from typing import Callable


def alternate(sides: dict[str, Callable[[], object]], rounds: int) -> dict[str, list[float]]:
    """``sides``: name -> callable. Returns name -> the seconds of each of its ``rounds`` timed calls."""
    for run in sides.values():
        run()
    times: dict[str, list[float]] = {name: [] for name in sides}
    order = list(sides)
    for r in range(rounds):
        for name in order if r % 2 == 0 else order[::-1]:
            start = time.perf_counter()
            sides[name]()
            times[name].append(time.perf_counter() - start)
    return times
