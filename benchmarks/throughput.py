"""DeepJSCC throughput: encode -> power norm -> AWGN -> decode, and training steps.

Prints images/s for inference at 64x64 (batch 256) and 512x768 (batch 4) and for training
(forward + backward + Adam) at 64x64 (batch 64), for each model given. Models are measured in
alternating rounds in one process and the median over rounds is reported (a cold process
pays page faults on its first large tensors). Weights do not change speed.

    python benchmarks/throughput.py [--models NAME,NAME,...] [--threads N] [--rounds R] [--seconds S]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from genjscc.channel import AWGN
from genjscc.models.deepjscc import DeepJSCC
from genjscc.zoo import resolve_model

DEFAULT = "deepjscc-64-bcr1_12,deepjscc-64-bcr1_48,deepjscc-paper-64-bcr1_12,deepjscc-paper-64-bcr1_48"


def rate(fn, images_per_call: int, seconds: float) -> float:
    fn()  # warm-up
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn()
        calls += 1
    return calls * images_per_call / (time.perf_counter() - start)


def workloads(model: DeepJSCC) -> dict:
    channel = AWGN()
    jobs = {}
    for (h, w), batch in (((64, 64), 256), ((512, 768), 4)):
        x = torch.rand(batch, 3, h, w)

        def infer(x=x):
            with torch.inference_mode():
                model(x, channel, 0.0)

        jobs[f"inference {h}x{w} b{batch}"] = (infer, batch)
    train_model = DeepJSCC(model.config).train()
    opt = torch.optim.Adam(train_model.parameters(), lr=1e-4)
    x, snr = torch.rand(64, 3, 64, 64), torch.empty(64).uniform_(-5, 10)

    def step():
        loss = torch.mean((train_model(x, channel, snr) - x) ** 2)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    jobs["training 64x64 b64"] = (step, 64)
    return jobs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default=DEFAULT)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    models = {name: DeepJSCC.from_weights(resolve_model(name)) for name in args.models.split(",")}
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, median of {args.rounds} alternating rounds")
    jobs = {name: workloads(m) for name, m in models.items()}
    results: dict = {(n, j): [] for n in jobs for j in jobs[n]}
    for _ in range(args.rounds):
        for name, work in jobs.items():
            for job, (fn, batch) in work.items():
                results[(name, job)].append(rate(fn, batch, args.seconds))
    print("| model | parameters | " + " | ".join(next(iter(jobs.values()))) + " |")
    print("|---|---|" + "---|" * len(next(iter(jobs.values()))))
    for name, model in models.items():
        cells = " | ".join(f"{statistics.median(results[(name, j)]):,.0f} img/s" for j in jobs[name])
        print(f"| {name} | {sum(p.numel() for p in model.parameters()) / 1e6:.2f} M | {cells} |")


if __name__ == "__main__":
    main()
