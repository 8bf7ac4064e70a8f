"""Time of the practical separation link (codec -> 5G LDPC + QAM -> channel -> decode).

Sends the first N held-out 64x64 photo crops through ``codec + ldpc`` at one SNR, trying
every MCS as the scheme does (``mcs="best"``), and prints the wall time, the chosen MCS and
the PSNR. Target: 16 images at one SNR in under a minute on 2 CPU cores.

    python benchmarks/separation_link.py [--codec webp] [--bcr 1/12] [--snr 5] [--channel awgn]
                                         [--images 16] [--mcs best] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import time

import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--codec", default="webp")
    parser.add_argument("--bcr", default="1/12")
    parser.add_argument("--snr", type=float, default=5.0)
    parser.add_argument("--channel", default="awgn", help="awgn | rayleigh | fast-rayleigh")
    parser.add_argument("--images", type=int, default=16)
    parser.add_argument("--mcs", default="best")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    from genjscc.channel.registry import build_channel
    from genjscc.data import load_dataset, stack
    from genjscc.metrics import psnr
    from genjscc.schemes import build_scheme
    from genjscc.data import training_mean_image

    images = stack(load_dataset("photos", "test", 64, limit=args.images))
    channel = build_channel(args.channel)
    scheme = build_scheme("separation", codec=args.codec, code="ldpc", bcr=args.bcr, mcs=args.mcs)
    training_mean_image("photos", 64, 64)  # the scheme's fallback, cached per process: not part of the link's time
    import sionna.phy  # noqa: F401  (import time is not the link's either)

    start = time.perf_counter()
    out = scheme.transmit(images, channel, args.snr, generator=torch.Generator().manual_seed(0)).images
    seconds = time.perf_counter() - start
    choice = scheme.choices[(channel.describe(), args.snr)]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{scheme.label} BCR {args.bcr} {channel.describe()} {args.snr:g} dB, {len(images)} images: "
          f"{seconds:.1f} s (torch threads {torch.get_num_threads()}, {os.cpu_count()} CPUs, load {load:.1f})")
    print(f"best MCS {choice.option}: budget {choice.budget_bytes} B, fitted {choice.fitted}/{choice.total}, "
          f"arrived {choice.delivered}/{choice.total}, PSNR {psnr(out, images).mean().item():.2f} dB")


if __name__ == "__main__":
    main()
