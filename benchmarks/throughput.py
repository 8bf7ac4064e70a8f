"""DeepJSCC throughput: encode -> power norm -> AWGN -> decode, and training steps.

Prints images/s for inference at 64x64 (batch 256) and 512x768 (batch 4) and for training
(forward + backward + Adam) at 64x64 (batch 64). Uses a shipped model's architecture when
given (default: deepjscc-64-bcr1_48), random weights otherwise; weights do not change speed.

    python benchmarks/throughput.py [--model NAME] [--threads N] [--seconds S]
"""

from __future__ import annotations

import argparse
import time

import torch

from genjscc.channel import AWGN
from genjscc.models.deepjscc import DeepJSCC, DeepJSCCConfig


def rate(fn, images_per_call: int, seconds: float) -> float:
    fn()  # warm-up
    fn()
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn()
        calls += 1
    return calls * images_per_call / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="deepjscc-64-bcr1_48")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        from genjscc.schemes import load_deepjscc
        from genjscc.zoo import resolve_model

        model, _ = load_deepjscc(resolve_model(args.model))
        source = args.model
    except (FileNotFoundError, ValueError):
        model, source = DeepJSCC(DeepJSCCConfig(channels=8, snr_adaptive=True)), "random weights, C=8, SNR-adaptive"
    model.eval()
    channel = AWGN()
    print(f"model: {source}; config {model.config.to_dict()}; torch {torch.__version__}, {torch.get_num_threads()} threads")

    for (h, w), batch in (((64, 64), 256), ((512, 768), 4)):
        x = torch.rand(batch, 3, h, w)

        def infer():
            with torch.inference_mode():
                model(x, channel, 0.0)

        print(f"inference {h}x{w} batch {batch}: {rate(infer, batch, args.seconds):8.1f} img/s")

    train_model = DeepJSCC(model.config).train()
    opt = torch.optim.Adam(train_model.parameters(), lr=1e-4)
    x = torch.rand(64, 3, 64, 64)
    snr = torch.empty(64).uniform_(-5, 10)

    def step():
        loss = torch.mean((train_model(x, channel, snr) - x) ** 2)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    print(f"training 64x64 batch 64:      {rate(step, 64, args.seconds):8.1f} img/s")


if __name__ == "__main__":
    main()
