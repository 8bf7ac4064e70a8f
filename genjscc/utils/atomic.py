"""Atomic file writes: a file appears complete under its final name, or not at all.

Every writer of the project (weights, images, records, caches) goes through
:func:`atomic_path`: it hands out a temporary name in the destination's folder (same file
system, so the final ``os.replace`` is atomic), unique per process, and removes it when the
writer fails. This module imports nothing of the project (a base utility every layer may use).
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Iterator

__all__ = ["atomic_path", "atomic_write_bytes", "atomic_write_text"]


@contextmanager
def atomic_path(path: str | Path, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path; on normal exit it is renamed to ``path``, on error deleted.

    ``suffix`` is appended to the temporary name for writers that insist on an extension
    (``np.savez`` adds ``.npz`` unless the name ends with it).
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part{suffix}")
    try:
        yield tmp
        os.chmod(tmp, _file_mode())  # some writers (safetensors) create 0600 files; use the usual 0666 & ~umask
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@lru_cache(maxsize=1)
def _file_mode() -> int:
    """``0o666 & ~umask`` (read once: reading the umask means setting it)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)
