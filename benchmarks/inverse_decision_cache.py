"""Solve InverseJSCC once per image and keep everything a consistency rule may use, so rules are compared offline.

For one DeepJSCC, prior, channel and SNR, three image sets go through the DeepJSCC and the ILO
solve of the ``inverse`` scheme (its default settings unless ``--steps``):

- ``calibration``: prior samples exactly as the scheme's calibration draws them (seeds
  ``CALIBRATION_SEED_OFFSET + i``, ψ of :class:`ConsistencyTest`, channel noise seeded per batch
  of ``ConsistencyTest.batch`` from ``CALIBRATION_SEED_OFFSET + start``);
- ``in_range``: the test split of ``prior:NAME``; ``photos``: the held-out photo crops; both with
  the channel draws of ``benchmarks/scheme_comparison.py`` (seed ``int(1000 * SNR) + start`` per
  batch of 16), so the numbers pair with its runs.

Per batch of 16 a file ``runs/inverse-decision/<jscc>/<snr>/<set>-<start>.pt`` holds: ``x`` (true
images, only for scoring), ``xhat`` (DeepJSCC output), ``G`` (the solve), ``received`` (the
symbols the decoder got, complex ``[B, k]``), ``enc_G`` / ``enc_xhat`` (noise-free encoder
symbols of G and x̂), ``dec_G`` / ``dec_xhat`` (D₀: encoder and decoder without noise),
``loss`` / ``mse`` (the solver's objective and its MSE term at the returned iterate) and ``w``
(the returned latent row). Finished batches are skipped on a rerun (checkpointed).

    python benchmarks/inverse_decision_cache.py --jscc deepjscc-64-bcr1_48 --snr -5 \\
        --calibration 64 --in-range 128 --photos 93 --threads 1
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from genjscc.channel.registry import build_channel
from genjscc.data import load_dataset, stack
from genjscc.models.stylegan2.sampling import sample_images
from genjscc.schemes import build_scheme
from genjscc.schemes.consistency import CALIBRATION_SEED_OFFSET, ConsistencyTest

BATCH = 16  # scheme_comparison's batch and ConsistencyTest's default calibration batch


def solve_batch(scheme, images: torch.Tensor, channel, snr: float, noise_seed: int, solver_seeds: list[int]) -> dict:
    model = scheme.jscc.model
    with torch.inference_mode():
        symbols, shape = model.encode(images, snr)
        received = channel(symbols, snr, generator=torch.Generator().manual_seed(noise_seed))
        xhat = model.decode(received, shape, snr).clamp(0, 1)
        # the scheme's own transmit gives the same x̂ from the same draws
        check = scheme.jscc.transmit(images, channel, snr, generator=torch.Generator().manual_seed(noise_seed))
        assert torch.equal(check.images.clamp(0, 1), xhat), "x̂ differs from the scheme's transmit"
    result = scheme._invert(xhat, solver_seeds)
    G = result.images.detach()
    with torch.inference_mode():
        enc_G, _ = model.encode(G, snr)
        enc_xhat, _ = model.encode(xhat, snr)
        dec_G = model.decode(enc_G, shape, snr).clamp(0, 1)
        dec_xhat = model.decode(enc_xhat, shape, snr).clamp(0, 1)
    return {"x": images.clone(), "xhat": xhat.clone(), "G": G, "received": received.clone(), "enc_G": enc_G.clone(),
            "enc_xhat": enc_xhat.clone(), "dec_G": dec_G.clone(), "dec_xhat": dec_xhat.clone(),
            "loss": result.loss.detach(), "mse": result.mse.detach(), "w": result.ws[:, 0].detach()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jscc", default="deepjscc-64-bcr1_48")
    parser.add_argument("--prior", default="stylegan2-photos64")
    parser.add_argument("--snr", type=float, default=-5.0)
    parser.add_argument("--channel", default="awgn")
    parser.add_argument("--calibration", type=int, default=64)
    parser.add_argument("--in-range", type=int, default=128)
    parser.add_argument("--photos", type=int, default=93)
    parser.add_argument("--order", default="calibration,photos,in_range", help="which sets first")
    parser.add_argument("--steps", default=None, help="solver steps (default: the scheme's default)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("runs/inverse-decision"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    options = {"jscc": args.jscc, "prior": args.prior, "consistency": False}
    if args.steps:
        options["steps"] = args.steps
    scheme = build_scheme("inverse", **options)
    channel = build_channel(args.channel)
    budget = f"steps{args.steps}" if args.steps else "default"
    folder = args.out / Path(args.jscc).stem / f"{args.channel}_{args.snr:g}dB" / budget
    folder.mkdir(parents=True, exist_ok=True)
    truncation = ConsistencyTest().truncation
    counts = {"calibration": args.calibration, "in_range": args.in_range, "photos": args.photos}
    for name in args.order.split(","):
        n = counts[name]
        if n <= 0:
            continue
        if name == "photos":
            data = stack(load_dataset("photos", "test", 64, limit=n))
        elif name == "in_range":
            data = stack(load_dataset(f"prior:{args.prior}", "test", 64, limit=n))
        for start in range(0, n, BATCH):
            path = folder / f"{name}-{start:04d}.pt"
            if path.exists():
                continue
            stop = min(start + BATCH, n)
            if name == "calibration":
                seeds = [CALIBRATION_SEED_OFFSET + i for i in range(start, stop)]
                with torch.inference_mode():
                    images = sample_images(scheme.prior, seeds, truncation)
                noise_seed, solver_seeds = CALIBRATION_SEED_OFFSET + start, seeds
            else:
                images, noise_seed = data[start:stop], int(1000 * args.snr) + start
                solver_seeds = list(range(start, stop))  # unused by the default solver (w from w_avg, const noise)
            started = time.time()
            batch = solve_batch(scheme, images, channel, args.snr, noise_seed, solver_seeds)
            torch.save(batch, path.with_suffix(".part"))
            path.with_suffix(".part").rename(path)
            print(f"{folder} {name} {start}-{stop}: {time.time() - started:.0f} s", flush=True)


if __name__ == "__main__":
    main()
