"""Time of the ILO inversion (default settings) on the shipped 64² prior at batch 1, 4 and 16.

Times ``--steps`` Adam steps per batch size after one warm-up call, and reports seconds per step,
seconds per image for the default 100-step solve, and the projected time of a batch of 16.

    python benchmarks/inversion_speed.py [--steps 20] [--threads 2] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import time

import torch

from genjscc.inversion import ILOSettings, invert
from genjscc.models.stylegan2 import load_stylegan2
from genjscc.zoo import resolve_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prior", default="stylegan2-photos64")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    G = load_stylegan2(resolve_model(args.prior)).to(args.device)
    default_steps = sum(ILOSettings().steps)
    settings = ILOSettings(steps=(args.steps,))
    invert(G, torch.rand(1, 3, G.img_resolution, G.img_resolution, device=args.device), ILOSettings(steps=(2,)))
    print(f"| batch | s / step | s / image (default {default_steps} steps) | default solve of the batch (s) |")
    print("|---|---|---|---|")
    for batch in (1, 4, 16):
        observation = torch.rand(batch, 3, G.img_resolution, G.img_resolution, device=args.device)
        started = time.perf_counter()
        invert(G, observation, settings)
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        per_step = (time.perf_counter() - started) / args.steps
        print(f"| {batch} | {per_step:.3f} | {per_step * default_steps / batch:.2f} | {per_step * default_steps:.1f} |")


if __name__ == "__main__":
    main()
