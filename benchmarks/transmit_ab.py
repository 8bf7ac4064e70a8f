"""DeepJSCC transmit time: another checkout (e.g. the code issue 13 measured) against this one, eager and compiled.

    python benchmarks/transmit_ab.py --baseline PATH [--models deepjscc-64-bcr1_12,deepjscc-64-bcr1_48]
                                     [--batch 256] [--rounds 9] [--threads 2]

One worker process per side (``baseline``: PATH, eager; ``this``: this checkout, eager;
``this, compiled``: this checkout with ``model.compile_networks()``, i.e. ``--set compile=true``),
each importing genjscc from its checkout (``PYTHONPATH``), so each side runs with its own
process-level settings (the allocator settings of :mod:`genjscc.utils.allocator` exist only here).
After one warm-up call (and the compile) the workers take turns, one timed transmit (encode,
AWGN at 0 dB, decode; inference mode; random 64x64 images) per model per round, the order
flipped every round. Prints median ms and the ratio of times to the baseline.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]

WORKER = r"""
import json, sys, time, torch
from genjscc.channel import AWGN
from genjscc.models.deepjscc import DeepJSCC
from genjscc.zoo import resolve_model
models, batch, threads, compile = sys.argv[1].split(","), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1"
torch.set_num_threads(threads)
x, channel = torch.rand(batch, 3, 64, 64), AWGN()
nets = {}
for name in models:
    net = DeepJSCC.from_weights(resolve_model(name)).eval()
    if compile:
        net.compile_networks()
    nets[name] = net
def call(net):
    with torch.inference_mode():
        net(x, channel, 0.0)
for net in nets.values():
    call(net)
print("ready", flush=True)
for _ in sys.stdin:
    out = {}
    for name, net in nets.items():
        start = time.perf_counter()
        call(net)
        out[name] = time.perf_counter() - start
    print(json.dumps(out), flush=True)
"""


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--baseline", required=True)
    p.add_argument("--models", default="deepjscc-64-bcr1_12,deepjscc-64-bcr1_48")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--rounds", type=int, default=9)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    sides = {"baseline": (Path(a.baseline).resolve(), "0"), "this": (HERE, "0"), "this, compiled": (HERE, "1")}
    procs = {}
    for side, (root, compile) in sides.items():
        env = {**os.environ, "PYTHONPATH": str(root), "OMP_NUM_THREADS": str(a.threads)}
        procs[side] = subprocess.Popen([sys.executable, "-c", WORKER, a.models, str(a.batch), str(a.threads), compile],
                                       stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, cwd=root)
    for side, proc in procs.items():
        line = proc.stdout.readline()
        if line.strip() != "ready":
            raise SystemExit(f"worker {side} failed to start")
    times = {side: {} for side in procs}
    order = list(procs)
    for r in range(a.rounds):
        for side in order if r % 2 == 0 else order[::-1]:
            proc = procs[side]
            proc.stdin.write("go\n")
            proc.stdin.flush()
            for name, seconds in json.loads(proc.stdout.readline()).items():
                times[side].setdefault(name, []).append(seconds)
    for proc in procs.values():
        proc.stdin.close()
        proc.wait()
    print(f"batch {a.batch}, {a.threads} threads, median of {a.rounds} alternating rounds\n")
    print("| model | " + " | ".join(f"{s} ms" for s in procs) + " | this / baseline | compiled / baseline |")
    print("|---|" + "---|" * (len(procs) + 2))
    for name in a.models.split(","):
        med = {s: statistics.median(times[s][name]) for s in procs}
        cells = " | ".join(f"{med[s] * 1e3:,.0f}" for s in procs)
        print(f"| {name} | {cells} | {med['this'] / med['baseline']:.2f} | {med['this, compiled'] / med['baseline']:.2f} |")


if __name__ == "__main__":
    main()
