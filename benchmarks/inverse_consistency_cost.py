"""What InverseJSCC's consistency test costs per batch: the same mixed batch (half prior samples, half
held-out photo crops) sent with ``consistency=true`` and ``false``, interleaved, after the test's
calibration has been built (it is built once per SNR and cached, so it is timed apart).

Prints the median seconds per image with and without the test (sides alternating, ``timing.alternate``), the difference (two noise-free DeepJSCC passes
per batch; the calibration is looked up once per SNR), and the fraction of the batch accepted.

    python benchmarks/inverse_consistency_cost.py [--steps 10] [--batch 16] [--repeats 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from genjscc.channel import AWGN
from genjscc.data import load_dataset, stack
from genjscc.schemes import build_scheme
from timing import alternate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jscc", default="deepjscc-64-bcr1_48")
    parser.add_argument("--prior", default="stylegan2-photos64")
    parser.add_argument("--steps", type=int, default=10, help="solver steps (the test's cost does not depend on it)")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--snr", type=float, default=0.0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    half = args.batch // 2
    images = torch.cat([stack(load_dataset(f"prior:{args.prior}", "test", 64, limit=half)),
                        stack(load_dataset("photos", "test", 64, limit=args.batch - half))])
    common = {"jscc": args.jscc, "prior": args.prior, "steps": args.steps}
    tested = build_scheme("inverse", **common, consistency_samples=args.batch)
    plain = build_scheme("inverse", **common, consistency=False)
    started = time.perf_counter()
    tested.calibration(AWGN(), args.snr)
    print(f"calibration ({args.batch} prior samples, {args.steps} steps; cached afterwards): "
          f"{time.perf_counter() - started:.1f} s")
    reports = []

    def send(scheme):
        sent = scheme.transmit(images, AWGN(), args.snr, generator=torch.Generator().manual_seed(0))
        reports.append(sent.report)

    seconds = alternate({"with the test": lambda: send(tested), "without": lambda: send(plain)}, args.repeats)
    accepted = next(r for r in reports if r)["accepted"].mean().item()
    median = {name: statistics.median(values) / args.batch for name, values in seconds.items()}
    print(f"| batch {args.batch}, {args.steps} steps | s / image (median of {args.repeats}, sides alternating) |")
    print("|---|---|")
    for name, value in median.items():
        print(f"| {name} | {value:.3f} |")
    print(f"| difference | {median['with the test'] - median['without']:+.4f} |")
    print(f"accepted: {accepted:.2f} of the batch ({half} prior samples, {args.batch - half} photos)")


if __name__ == "__main__":
    main()
