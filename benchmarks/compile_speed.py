"""``compile=true`` against eager for the shipped models' transmit (encode, channel, decode).

    python benchmarks/compile_speed.py [--models deepjscc-64-bcr1_48,deepjscc-64-bcr1_12,generative-64-bcr1_48]
                                       [--batch 64] [--rounds 7] [--threads 2] [--device cpu]

For each model: one eager copy and one whose real-valued networks are compiled in place
(``model.compile_networks()``, what ``--set compile=true`` does); the compile time is the first
compiled call. Then ``--rounds`` rounds of one timed transmit each, the order flipping every
round, in inference mode, AWGN at 0 dB, random 64x64 images; medians. The outputs are compared
on the same channel draw (max |difference|). Prints a markdown table.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from genjscc.channel import AWGN  # noqa: E402
from genjscc.schemes import build_scheme  # noqa: E402
from timing import alternate  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default="deepjscc-64-bcr1_48,deepjscc-64-bcr1_12,generative-64-bcr1_48")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    device = torch.device(a.device)
    channel = AWGN()
    x = torch.rand(a.batch, 3, 64, 64, generator=torch.Generator().manual_seed(0)).to(device)
    print(f"torch {torch.__version__}, {a.device}, {a.threads} threads, batch {a.batch}, median of {a.rounds} alternating rounds\n")
    print("| model | eager ms | compiled ms | time compiled / eager | compile s | max abs diff |\n|---|---|---|---|---|---|")
    for name in a.models.split(","):
        eager = build_scheme(name).model.to(device).eval()
        compiled = copy.deepcopy(eager)

        def run(model, seed=None):
            g = torch.Generator(device=device).manual_seed(seed) if seed is not None else None
            with torch.inference_mode():
                out = model(x, channel, 0.0, generator=g)
            if device.type == "cuda":
                torch.cuda.synchronize()
            return out

        reference = run(eager, seed=1)
        start = time.perf_counter()
        compiled.compile_networks()
        got = run(compiled, seed=1)
        compile_s = time.perf_counter() - start
        diff = (got - reference).abs().max().item()
        times = alternate({"eager": lambda: run(eager), "compiled": lambda: run(compiled)}, a.rounds)
        e, c = statistics.median(times["eager"]), statistics.median(times["compiled"])
        print(f"| {name} | {e * 1e3:,.0f} | {c * 1e3:,.0f} | {c / e:.2f} | {compile_s:.1f} | {diff:.1e} |", flush=True)


if __name__ == "__main__":
    main()
