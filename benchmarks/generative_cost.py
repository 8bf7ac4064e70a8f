"""Parameters, MACs per image and inference speed of GenerativeJSCC beside DeepJSCC (64², batch 64).

MACs come from ``torch.utils.flop_counter`` (FLOPs / 2) on one forward pass; speed is the
median over alternating rounds (A, B, A, B, ...) in one process, after a warm-up.

    python benchmarks/generative_cost.py [--generative NAME_OR_PATH ...] [--rounds 7] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
from functools import partial

import torch
from torch.utils.flop_counter import FlopCounterMode

from genjscc.channel import AWGN
from genjscc.schemes import build_scheme
from timing import alternate


def macs_per_image(model: torch.nn.Module, x: torch.Tensor) -> float:
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(x, AWGN(), 0.0)
    return counter.get_total_flops() / 2 / x.shape[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--generative", nargs="+", default=["generative-64-bcr1_48"],
                        help="GenerativeJSCC models (zoo names or files): residual or synthesis decoders")
    parser.add_argument("--deepjscc", default="deepjscc-64-bcr1_48")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    schemes = {name: build_scheme(name) for name in (args.deepjscc, *args.generative)}
    x = torch.rand(args.batch_size, 3, 64, 64)
    times = alternate({name: partial(scheme.transmit, x, AWGN(), 0.0) for name, scheme in schemes.items()},
                      args.rounds)
    print(f"| model | decoder | parameters | MMAC / image | img/s (batch {args.batch_size}, {args.threads} threads, median of {args.rounds}) |")
    print("|---|---|---|---|---|")
    for name, scheme in schemes.items():
        # GenerativeJSCC stores the prior's blocks before the injection block but never runs them (frozen)
        params = sum(p.numel() for p in scheme.model.parameters() if p.requires_grad)
        macs = macs_per_image(scheme.model, x[:4])
        decoder = getattr(scheme.model.config, "decoder", "deepjscc")
        print(f"| {name} | {decoder} | {params / 1e6:.2f} M | {macs / 1e6:.0f} | {args.batch_size / statistics.median(times[name]):.0f} |")


if __name__ == "__main__":
    main()
