"""Whole ``genjscc`` commands, this checkout against another one, taking turns.

    python benchmarks/cli_end_to_end.py --baseline PATH [--rounds 5] [--threads 2]
                                        [--command "evaluate separation --set codec=webp --set bcr=1/12 --snr 0"] ...

``PATH`` is another checkout of genjscc (e.g. ``git worktree add /tmp/base 8ae067d``); each
command runs as ``python -m genjscc ARGS`` with ``PYTHONPATH`` set to this checkout or to
``PATH``, the two alternating round by round (order flipped every round), in fresh processes,
so both pay the same start-up and page faults. Each command is timed with an empty
``GENJSCC_CACHE`` folder (a new one per run: the first run on a machine) and with a warm one
(filled by one untimed run per side). Prints a markdown table of median wall seconds and the
ratio baseline / this (> 1: this checkout is faster).
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
DEFAULT_COMMANDS = ["--help", "evaluate separation --set codec=webp --set bcr=1/12 --snr 0"]


def run(root: Path, args: list[str], cache: Path, threads: int) -> float:
    env = {**os.environ, "PYTHONPATH": str(root), "GENJSCC_CACHE": str(cache), "OMP_NUM_THREADS": str(threads)}
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "genjscc", *args], env=env, cwd=root, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{root}: genjscc {' '.join(args)} failed:\n{proc.stderr[-2000:]}")
    return seconds


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--baseline", required=True, help="another genjscc checkout")
    p.add_argument("--command", action="append", help="genjscc arguments (repeatable)")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    sides = {"baseline": Path(a.baseline).resolve(), "this": HERE}
    print(f"| command | cache | baseline s | this s | baseline / this |\n|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for i, command in enumerate(a.command or DEFAULT_COMMANDS):
            args = shlex.split(command)
            warm = {side: tmp / f"warm{i}-{side}" for side in sides}
            for side, root in sides.items():
                run(root, args, warm[side], a.threads)  # fills the warm cache; not timed
            for mode in ("empty", "warm"):
                times = {side: [] for side in sides}
                for r in range(a.rounds):
                    for side in (list(sides) if r % 2 == 0 else list(sides)[::-1]):
                        cache = warm[side] if mode == "warm" else Path(tempfile.mkdtemp(dir=tmp))
                        times[side].append(run(sides[side], args, cache, a.threads))
                base, this = statistics.median(times["baseline"]), statistics.median(times["this"])
                print(f"| `genjscc {command}` | {mode} | {base:.2f} | {this:.2f} | {base / this:.2f} |", flush=True)


if __name__ == "__main__":
    main()
