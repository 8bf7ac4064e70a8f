"""Dead-leaves generator speed: images/s at 64x64 per batch size, one CPU thread by default.

Each batch is a fresh range of indices (no caching). Prints one line per batch size with the
median over repeats of ``--seconds``-long runs.

    python benchmarks/deadleaves_speed.py [--size 64] [--batch 1 16 64 256] [--threads 1] [--seconds 2] [--palette]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from genjscc.data.deadleaves import dead_leaves


def rate(batch: int, size: int, seconds: float, palette: torch.Tensor | None, start: int) -> float:
    made, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        dead_leaves(range(start + made, start + made + batch), size, palette=palette)
        made += batch
    return made / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 16, 64, 256])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--palette", action="store_true", help="use a random 4096-colour palette")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    palette = torch.rand(4096, 3, generator=torch.Generator().manual_seed(0)) if args.palette else None
    print(f"dead leaves {args.size}x{args.size}, torch {torch.__version__}, {torch.get_num_threads()} thread(s)")
    dead_leaves(range(8), args.size, palette=palette)  # warm-up
    for batch in args.batch:
        rates = [rate(batch, args.size, args.seconds, palette, 10**6 * (r + 1)) for r in range(args.repeats)]
        runs = ", ".join(f"{r:.0f}" for r in rates)
        print(f"batch {batch:4d}: {statistics.median(rates):7.0f} images/s (runs: {runs})")


if __name__ == "__main__":
    main()
