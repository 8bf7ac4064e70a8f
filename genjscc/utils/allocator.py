"""glibc ``malloc`` settings for large tensors, opt-in: the ``genjscc`` command applies them at start.

What: on Linux with glibc, :func:`tune_allocator` calls ``mallopt`` (through ctypes) to set

* ``M_MMAP_THRESHOLD`` = 256 MiB: blocks below it come from the heap instead of a fresh ``mmap``;
* ``M_TRIM_THRESHOLD`` = 256 MiB: free memory at the top of the heap is kept up to this size
  instead of being handed back to the kernel after every large ``free``;
* ``M_TOP_PAD`` = 256 MiB: the heap grows in steps of at least this much, and a trim keeps
  this much free memory at its top.

Why: glibc's defaults (a dynamic mmap threshold of at most 32 MiB on 64-bit, a 128 KiB trim
threshold) make every activation larger than a few MiB a fresh ``mmap`` / ``munmap`` pair, or
a heap trimmed and regrown on every call, and each new page costs a page fault. On a forward
pass of the shipped 64x64 StyleGAN2 prior these settings remove most of those page faults and
much of the time (a smaller top pad leaves many; figures: ``benchmarks/README.md``,
``stylegan2_speed.py --mallopt-ab``).
Memory that is kept is reused by the next call. The price: the process keeps up to ~256 MiB
of freed memory mapped (its resident size does not shrink as soon as tensors are freed).

Who applies them: ``import genjscc`` never does (a library must not change its host process's
allocator). The ``genjscc`` command line calls :func:`tune_allocator` before it does anything
else; a library user who wants the same calls it once, early. Opt out of the command's call
with ``GENJSCC_NO_MALLOPT=1``; the settings of a running process cannot be undone. Elsewhere
(macOS, Windows, musl) nothing happens. Like any ``mallopt`` call this affects the whole
process, not only genjscc's tensors.

This module imports nothing but ``ctypes`` and ``os``.
"""

from __future__ import annotations

import ctypes
import os

__all__ = ["tune_allocator", "MALLOPT_SETTINGS", "OPT_OUT_VARIABLE"]

OPT_OUT_VARIABLE = "GENJSCC_NO_MALLOPT"

MiB = 1 << 20
# name -> (glibc's mallopt parameter number from <malloc.h>, value)
MALLOPT_SETTINGS: dict[str, tuple[int, int]] = {
    "M_MMAP_THRESHOLD": (-3, 256 * MiB),
    "M_TRIM_THRESHOLD": (-1, 256 * MiB),
    "M_TOP_PAD": (-2, 256 * MiB),
}


def _glibc() -> ctypes.CDLL | None:
    """The C library of this process when it is glibc, else None."""
    try:
        libc = ctypes.CDLL(None)
    except OSError:  # Windows: no handle on the process's own symbols
        return None
    if not hasattr(libc, "gnu_get_libc_version") or not hasattr(libc, "mallopt"):
        return None  # macOS, musl, ...
    return libc


def tune_allocator() -> dict[str, int]:
    """Apply :data:`MALLOPT_SETTINGS` with glibc's ``mallopt``; return those it accepted.

    Returns ``{}`` (and changes nothing) when ``GENJSCC_NO_MALLOPT`` is set to anything but
    ``""`` or ``"0"``, or when the C library is not glibc. Calling it again re-applies the same
    values (harmless).
    """
    if os.environ.get(OPT_OUT_VARIABLE, "") not in ("", "0"):
        return {}
    libc = _glibc()
    if libc is None:
        return {}
    libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    libc.mallopt.restype = ctypes.c_int
    applied = {}
    for name, (param, value) in MALLOPT_SETTINGS.items():
        if libc.mallopt(param, value) == 1:  # mallopt returns 1 on success, 0 on error
            applied[name] = value
    return applied
