"""The sweep store: one JSON line per finished sweep point, ``{"key": ..., "records": [...]}``.

Appends are flushed and fsynced line by line, so a killed sweep loses at most the point it was
computing; advisory byte-range locks let two sweeps share one store without computing a point twice.
"""

from __future__ import annotations

import hashlib
import json
from contextlib import contextmanager
from pathlib import Path

from genjscc.evaluation.records import Record

__all__ = ["read_store", "claim_point"]


def read_store(path: Path) -> dict[str, list[Record]]:
    """Finished points of a sweep store (JSON lines ``{"key": ..., "records": [...]}``).

    A torn last line (a killed sweep) is ignored; any other line that is not an entry means the
    file is not a sweep store: a ``ValueError`` naming the line, so nothing is appended to it.
    """
    done: dict[str, list[Record]] = {}
    path = Path(path)
    if not path.exists():
        return done
    try:
        lines = path.read_text().splitlines()
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not a sweep store (JSON lines written by genjscc sweep); "
                         "give another --store") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            if number == len(lines):
                continue  # a line cut by a kill: that point is simply run again
            entry = None
        try:
            done[entry["key"]] = [Record(**r) for r in entry["records"]]
        except (TypeError, KeyError):
            raise ValueError(f"{path} line {number} is not a sweep store entry; it is not a store written by "
                             "genjscc sweep: give another --store") from None
    return done


@contextmanager
def claim_point(store_file, key: str, wait: bool):
    """Hold an advisory lock on the byte of ``store_file`` that ``key`` hashes to, so two sweeps on one
    store never compute the same point at once; yields False when another holds it and ``wait`` is False."""
    try:
        import fcntl
    except ImportError:  # no POSIX locks (Windows): every sweep computes its own points
        yield True
        return
    offset = int(hashlib.sha256(key.encode()).hexdigest()[:8], 16)
    try:
        fcntl.lockf(store_file, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB), 1, offset)
    except (BlockingIOError, PermissionError):
        yield False
        return
    try:
        yield True
    finally:
        fcntl.lockf(store_file, fcntl.LOCK_UN, 1, offset)
