"""Cost of the OFDM channel inside DeepJSCC training (issue 23 target: <= 30 % of a training step).

    python benchmarks/ofdm_cost.py [--model deepjscc-64-bcr1_12] [--batch 64] [--rounds 15]
                                   [--channel ofdm-tdl-c] [--threads 1]

A: one DeepJSCC training step over AWGN (random 64x64 images, encode, channel, decode, MSE,
backward, Adam step). B: the channel alone, forward + backward, on the same ``[batch, k]``
symbols (a ``requires_grad`` input, the loss ``sum |y|^2``). One warm-up each, then A and B
alternate every round, the order flipped each round; prints the median times and B / A.
"""

from __future__ import annotations

import argparse
import statistics

import torch

from genjscc.channel import AWGN, power_normalize
from genjscc.channel.registry import build_channel
from genjscc.models.deepjscc import DeepJSCC
from genjscc.zoo import resolve_model
from timing import alternate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="deepjscc-64-bcr1_12")
    parser.add_argument("--channel", default="ofdm-tdl-c")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = DeepJSCC.from_weights(resolve_model(args.model)).train()
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-4)
    images = torch.rand(args.batch, 3, 64, 64)
    snr = torch.empty(args.batch).uniform_(-5, 20)
    awgn, channel = AWGN(), build_channel(args.channel)
    side = 64 // model.config.downsample
    k = model.config.channels * side * side // 2  # complex symbols per image
    z0 = power_normalize(torch.randn(args.batch, k, dtype=torch.complex64))

    def training_step() -> None:
        optimiser.zero_grad(set_to_none=True)
        loss = (model(images, awgn, snr) - images).square().mean()
        loss.backward()
        optimiser.step()

    def channel_pass() -> None:
        z = z0.clone().requires_grad_(True)
        channel(z, snr).abs().square().sum().backward()

    sides = {"A: DeepJSCC training step (awgn)": training_step, f"B: {args.channel} forward+backward": channel_pass}
    times = alternate(sides, args.rounds)
    medians = {name: statistics.median(t) for name, t in times.items()}
    print(f"batch {args.batch}, k = {k} symbols per image, {args.rounds} rounds, {args.threads} thread(s)")
    for name, m in medians.items():
        print(f"{name}: median {1000 * m:.1f} ms")
    a, b = medians.values()
    print(f"B / A = {100 * b / a:.1f} %")


if __name__ == "__main__":
    main()
