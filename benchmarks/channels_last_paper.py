"""channels_last vs NCHW for the paper DeepJSCC (``_Stack``), alternating in one process.

    python benchmarks/channels_last_paper.py [--model deepjscc-paper-64-bcr1_12] [--batch 256] [--rounds 7]

Times the transmit (encode, AWGN at 0 dB, decode, inference mode) of a shipped paper-architecture
model at 64x64 with both memory formats, one call each per round (order flipped every round),
and prints the median ms per call, img/s and the ratio of times as a markdown table, plus the
largest difference between the two outputs (same noise draw).
"""

from __future__ import annotations

import argparse
import statistics

import torch

from genjscc.channel import AWGN
from genjscc.models.deepjscc import DeepJSCC
from genjscc.zoo import resolve_model
from timing import alternate


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="deepjscc-paper-64-bcr1_12")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    model = DeepJSCC.from_weights(resolve_model(a.model)).eval()
    x, channel = torch.rand(a.batch, 3, a.size, a.size), AWGN()

    def run(channels_last: bool, seed: int = 0) -> torch.Tensor:
        model.encoder.channels_last = model.decoder.channels_last = channels_last
        torch.manual_seed(seed)
        with torch.inference_mode():
            return model(x, channel, 0.0)

    diff = (run(False) - run(True)).abs().max().item()  # also the warm-up of both
    times = alternate({"NCHW": lambda: run(False), "channels_last": lambda: run(True)}, a.rounds)
    med = {s: statistics.median(t) for s, t in times.items()}
    print(f"{a.model}, transmit {a.batch}x3x{a.size}x{a.size}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, median of {a.rounds} alternating rounds; max |difference| {diff:.2e}\n")
    print("| path | ms/call | img/s |\n|---|---|---|")
    for s, m in med.items():
        print(f"| {s} | {m * 1e3:,.0f} | {a.batch / m:,.0f} |")
    print(f"\ntime channels_last / NCHW: {med['channels_last'] / med['NCHW']:.2f}")


if __name__ == "__main__":
    main()
