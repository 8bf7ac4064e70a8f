"""A/B timing: this checkout against another one (``--baseline PATH``), sides taking turns.

    python benchmarks/ab.py transmit --baseline PATH [--models deepjscc-64-bcr1_12,deepjscc-64-bcr1_48]
                                     [--batch 256] [--size 64] [--rounds 9] [--threads 2] [--compiled]
    python benchmarks/ab.py cli --baseline PATH [--command "evaluate separation --set codec=webp --set bcr=1/12 --snr 0"]
                                [--rounds 5] [--threads 2]

Question: *is this checkout faster than PATH at the same work?* ``PATH`` is another checkout of
genjscc (``git worktree add /tmp/base COMMIT``); each side imports genjscc from its own checkout
(``PYTHONPATH``), so each runs with its own code and its own process-level settings. The sides
take turns, one timed call each per round, the order flipped every round, so a cold start,
another process's load or the first page faults hit both alike; medians over the rounds.
``--baseline-env VAR=VALUE`` (repeatable) sets a variable on the baseline side only: with
``--baseline .`` and ``GENJSCC_NO_MALLOPT=1`` it times the allocator settings on one checkout.

Workloads:

* ``transmit``: the forward pass of shipped models (encode, AWGN at 0 dB, decode; inference mode;
  random ``size`` x ``size`` images), one worker process per side that stays alive between rounds;
  each applies :mod:`genjscc.utils.allocator`'s settings the way the ``genjscc`` command does
  (where its checkout has them). ``--compiled`` adds the side "this, compiled"
  (``model.compile_networks()``, i.e. ``--set compile=true``; the compile happens in the warm-up).
* ``cli``: whole ``genjscc`` commands (``python -m genjscc ARGS``), a fresh process per call, each
  timed with an empty ``GENJSCC_CACHE`` folder (a new one per call: the first run on a machine) and
  with a warm one (filled by one untimed run per side). Arguments that start with ``-`` take the
  ``=`` form: ``--command=--help``.

Prints a markdown table: the median per side and the speed-up ``baseline time / side time``
(> 1: that side is faster than the baseline).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
DEFAULT_MODELS = "deepjscc-64-bcr1_12,deepjscc-64-bcr1_48"
DEFAULT_COMMANDS = ["--help", "evaluate separation --set codec=webp --set bcr=1/12 --snr 0"]

# Runs in the side's checkout. Only names every genjscc version has: build_scheme(name).model and
# model(images, channel, snr_db); the allocator module moved (genjscc.allocator -> genjscc.utils.allocator).
TRANSMIT_WORKER = r"""
import json, sys, time, torch
try:
    from genjscc.utils.allocator import tune_allocator
except ImportError:
    try:
        from genjscc.allocator import tune_allocator  # older checkouts applied it at import already
    except ImportError:
        tune_allocator = dict  # older still: no allocator settings
tune_allocator()
from genjscc.channel import AWGN
from genjscc.schemes import build_scheme
models, batch, size, threads, compiled = sys.argv[1].split(","), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5] == "1"
torch.set_num_threads(threads)
images, channel = torch.rand(batch, 3, size, size, generator=torch.Generator().manual_seed(0)), AWGN()
nets = {}
for name in models:
    net = build_scheme(name).model.eval()
    nets[name] = net.compile_networks() if compiled else net
def call(net):
    with torch.inference_mode():
        net(images, channel, 0.0)
for net in nets.values():
    call(net)  # warm-up (and the compile)
print("ready", flush=True)
for _ in sys.stdin:
    seconds = {}
    for name, net in nets.items():
        start = time.perf_counter()
        call(net)
        seconds[name] = time.perf_counter() - start
    print(json.dumps(seconds), flush=True)
"""


@dataclass
class Side:
    """One side of the comparison: a checkout, extra environment, and whether its networks are compiled."""

    name: str
    root: Path
    env: dict[str, str] = field(default_factory=dict)
    compiled: bool = False

    def environment(self, threads: int, **extra: str) -> dict[str, str]:
        return {**os.environ, "PYTHONPATH": str(self.root), "OMP_NUM_THREADS": str(threads), **self.env, **extra}


def parse_env(pairs: list[str] | None) -> dict[str, str]:
    env = {}
    for pair in pairs or []:
        name, eq, value = pair.partition("=")
        if not eq or not name:
            raise SystemExit(f"--baseline-env {pair!r}: write VAR=VALUE, e.g. --baseline-env GENJSCC_NO_MALLOPT=1")
        env[name] = value
    return env


def checkout(path: str) -> Path:
    root = Path(path).resolve()
    if not (root / "genjscc" / "__init__.py").is_file():
        raise SystemExit(f"--baseline {path}: not a genjscc checkout (no genjscc/__init__.py there); "
                         "make one with: git worktree add /tmp/base COMMIT")
    return root


def describe(root: Path) -> str:
    """``PATH (commit abc1234)`` where PATH is a git checkout, else ``PATH``."""
    head = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return f"{root} (commit {head.stdout.strip()})" if head.returncode == 0 else str(root)


def in_turns(rounds: int, sides: list[Side], timed_call) -> dict[str, list]:
    """``timed_call(side)`` for every side, ``rounds`` times, the order flipped every round."""
    results: dict[str, list] = {side.name: [] for side in sides}
    for r in range(rounds):
        for side in sides if r % 2 == 0 else sides[::-1]:
            results[side.name].append(timed_call(side))
    return results


def speed_up_cells(medians: dict[str, float], baseline: str) -> str:
    return " | ".join(f"{medians[baseline] / medians[s]:.2f}" for s in medians if s != baseline)


def transmit(a: argparse.Namespace, sides: list[Side]) -> None:
    workers = {}
    for side in sides:
        workers[side.name] = subprocess.Popen(
            [sys.executable, "-c", TRANSMIT_WORKER, a.models, str(a.batch), str(a.size), str(a.threads),
             "1" if side.compiled else "0"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=side.environment(a.threads), cwd=side.root)
    for name, worker in workers.items():
        if worker.stdout.readline().strip() != "ready":
            raise SystemExit(f"the {name} worker did not start (its error is above)")

    def timed_call(side: Side) -> dict[str, float]:
        worker = workers[side.name]
        worker.stdin.write("go\n")
        worker.stdin.flush()
        return json.loads(worker.stdout.readline())

    rounds = in_turns(a.rounds, sides, timed_call)
    for worker in workers.values():
        worker.stdin.close()
        worker.wait()
    names = [s.name for s in sides]
    print(f"transmit, batch {a.batch} at {a.size}x{a.size}, {a.threads} threads, median of {a.rounds} rounds, "
          f"worker processes taking turns\n")
    print("| model | " + " | ".join(f"{n} ms" for n in names) + " | "
          + " | ".join(f"speed-up {n}" for n in names[1:]) + " |")
    print("|---|" + "---|" * (2 * len(names) - 1))
    for model in a.models.split(","):
        medians = {n: statistics.median(r[model] for r in rounds[n]) for n in names}
        cells = " | ".join(f"{medians[n] * 1e3:,.0f}" for n in names)
        print(f"| {model} | {cells} | {speed_up_cells(medians, names[0])} |", flush=True)


def cli(a: argparse.Namespace, sides: list[Side]) -> None:
    def run(side: Side, args: list[str], cache: Path) -> float:
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "genjscc", *args], env=side.environment(a.threads,
                              GENJSCC_CACHE=str(cache)), cwd=side.root, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        if proc.returncode != 0:
            raise SystemExit(f"{side.name} ({side.root}): genjscc {shlex.join(args)} failed:\n{proc.stderr[-2000:]}")
        return seconds

    names = [s.name for s in sides]
    print(f"whole commands, {a.threads} threads, median of {a.rounds} rounds, fresh processes taking turns\n")
    print("| command | cache | " + " | ".join(f"{n} s" for n in names) + " | "
          + " | ".join(f"speed-up {n}" for n in names[1:]) + " |")
    print("|---|---|" + "---|" * (2 * len(names) - 1))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for i, command in enumerate(a.command or DEFAULT_COMMANDS):
            args = shlex.split(command)
            warm = {side.name: tmp / f"warm{i}-{j}" for j, side in enumerate(sides)}
            for side in sides:
                run(side, args, warm[side.name])  # fills the warm cache; not timed
            for mode in ("empty", "warm"):
                rounds = in_turns(a.rounds, sides, lambda side: run(
                    side, args, warm[side.name] if mode == "warm" else Path(tempfile.mkdtemp(dir=tmp))))
                medians = {n: statistics.median(rounds[n]) for n in names}
                cells = " | ".join(f"{medians[n]:.2f}" for n in names)
                print(f"| `genjscc {command}` | {mode} | {cells} | {speed_up_cells(medians, names[0])} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--baseline", required=True, help="another genjscc checkout (the A side)")
    common.add_argument("--baseline-env", action="append", metavar="VAR=VALUE",
                        help="environment variable for the baseline side only (repeatable)")
    common.add_argument("--rounds", type=int, default=None, help="timed rounds (transmit: 9, cli: 5)")
    common.add_argument("--threads", type=int, default=2, help="torch threads per side")
    work = parser.add_subparsers(dest="workload", required=True)
    t = work.add_parser("transmit", parents=[common], help="shipped models' forward pass, workers taking turns")
    t.add_argument("--models", default=DEFAULT_MODELS, help="comma-separated zoo names (DeepJSCC, GenerativeJSCC)")
    t.add_argument("--batch", type=int, default=256)
    t.add_argument("--size", type=int, default=64)
    t.add_argument("--compiled", action="store_true", help="add the side 'this, compiled' (compile_networks())")
    c = work.add_parser("cli", parents=[common], help="whole genjscc commands, fresh processes taking turns")
    c.add_argument("--command", action="append", help=f"genjscc arguments (repeatable; default: {DEFAULT_COMMANDS})")
    a = parser.parse_args()
    a.rounds = a.rounds or (9 if a.workload == "transmit" else 5)
    sides = [Side("baseline", checkout(a.baseline), env=parse_env(a.baseline_env)), Side("this", HERE)]
    if getattr(a, "compiled", False):
        sides.append(Side("this, compiled", HERE, compiled=True))
    env_note = f", environment {a.baseline_env}" if a.baseline_env else ""
    print(f"baseline: {describe(sides[0].root)}{env_note}; this: {describe(HERE)}\n")
    (transmit if a.workload == "transmit" else cli)(a, sides)


if __name__ == "__main__":
    main()
