"""Paired comparison of schemes on the same images and channel draws: PSNR, MS-SSIM, LPIPS-alex, KID.

Each ``--scheme`` is a spec followed by its options, e.g. ``"deepjscc-64-bcr1_48"``,
``"runs/gen/model.safetensors"`` or ``"inverse jscc=deepjscc-64-bcr1_48 steps=100"``. A scheme's
stage outputs (InverseJSCC's DeepJSCC output) are scored too. Per-image metrics are given as
mean ± the half-width of the 95 % t-interval; differences against the first output are paired
per image. KID (Inception pool features, unbiased, cubic kernel) is computed on the whole set
against the test images; its interval is the 2.5–97.5 % range over 200 random half-size subsets
(conservative: a half-size estimate varies more than the whole-set one). Results go to
``--out`` as JSON (with every per-image value, so runs can be paired later) and a markdown
table is printed. Channel draws depend only on (SNR, batch start): schemes with the same number
of channel symbols see the same noise, so rows of different schemes pair per image too.

``--solves FOLDER`` reads InverseJSCC's ILO solves from ``benchmarks/inverse_decision_cache.py``'s
files (``FOLDER/<jscc>/<channel>_<SNR>dB/default``) instead of solving again: the scheme runs
as usual (DeepJSCC, channel, calibration, consistency test) and only the solver call returns the
cached G of the bit-identical x̂ (a missing one is an error). The solve is deterministic with the
default settings (w from w_avg, constant noise), so the numbers are those of a full run.

    python benchmarks/scheme_comparison.py --data prior:stylegan2-photos64 --limit 64 --snr=-5,0,5 \\
        --scheme "inverse jscc=deepjscc-64-bcr1_48 prior=stylegan2-photos64" --out results/inverse/in_range.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from genjscc.channel.registry import build_channel
from genjscc.data import load_dataset, stack
from genjscc.evaluation.evaluate import mean_ci95, transmit_checked
from genjscc.metrics import PER_IMAGE_METRICS
from genjscc.schemes import build_scheme

PER_IMAGE = ("psnr", "ms-ssim", "lpips-alex")
KID_SUBSETS = 200


def parse_scheme(text: str):
    spec, *pairs = text.split()
    options = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        options[key] = yaml.safe_load(value)
    return spec, options


def kid_with_interval(features: np.ndarray, reference: np.ndarray, subsets: np.ndarray) -> tuple[float, float, float]:
    from genjscc.metrics.fid import kernel_inception_distance

    whole, _ = kernel_inception_distance(features, reference, subsets=1, subset_size=len(features))
    halves = [kernel_inception_distance(features[idx], reference[idx], subsets=1, subset_size=len(idx))[0] for idx in subsets]
    return whole, float(np.percentile(halves, 2.5)), float(np.percentile(halves, 97.5))


def read_cached_solves(scheme, folder: Path) -> None:
    """Make ``scheme``'s solver return the cached G for each x̂ (matched bit for bit) from ``folder``."""
    from types import SimpleNamespace

    solves = {}
    for path in sorted(folder.glob("*.pt")):
        batch = torch.load(path)
        for xhat, G in zip(batch["xhat"], batch["G"]):
            solves[xhat.numpy().tobytes()] = G
    if not solves:
        raise SystemExit(f"no cached solves in {folder}: run benchmarks/inverse_decision_cache.py first")

    def cached(observed, seeds):
        try:
            found = [solves[x.cpu().contiguous().numpy().tobytes()] for x in observed]
            return SimpleNamespace(images=torch.stack(found))
        except KeyError:
            raise SystemExit(f"an x̂ has no cached solve in {folder}: extend the cache to these images") from None

    scheme._invert = cached


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scheme", action="append", required=True, help="spec and options, e.g. 'inverse jscc=X steps=100'")
    parser.add_argument("--data", default="photos")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--snr", default="-5,0,5")
    parser.add_argument("--channel", default="awgn")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--no-kid", action="store_true", help="skip KID (the Inception features dominate the time)")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--solves", type=Path, default=None, help="cached InverseJSCC solves (see the docstring)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    from genjscc.metrics.fid import inception_features

    images = stack(load_dataset(args.data, "test", args.size, limit=args.limit))
    n = images.shape[0]
    rng = np.random.default_rng(0)
    subsets = np.stack([rng.choice(n, n // 2, replace=False) for _ in range(KID_SUBSETS)])
    reference = None if args.no_kid else inception_features(images).numpy()
    channel = build_channel(args.channel)
    snrs = [float(s) for s in args.snr.split(",")]
    results = {"data": args.data, "n": n, "channel": args.channel, "command": "python " + " ".join(sys.argv),
               "rows": []}
    for text in args.scheme:
        spec, options = parse_scheme(text)
        scheme = build_scheme(spec, **options)
        for snr in snrs:
            if args.solves is not None and scheme.kind == "inverse":
                point = Path(options["jscc"]).stem, f"{args.channel}_{snr:g}dB", "default"
                read_cached_solves(scheme, args.solves.joinpath(*point))
            outputs: dict[tuple[str, str], list[torch.Tensor]] = {}
            reports: dict[str, list[torch.Tensor]] = {}
            started = time.time()
            if getattr(scheme, "consistency", None) is not None:  # InverseJSCC's test: calibrated (or read) first
                scheme.calibration(channel, snr)
            calibration_seconds = time.time() - started
            started = time.time()
            for i in range(0, n, args.batch_size):
                batch = images[i : i + args.batch_size]
                g = torch.Generator().manual_seed(int(1000 * snr) + i)  # the same draws for every scheme
                sent = transmit_checked(scheme, batch, channel, snr, generator=g)
                outputs.setdefault((scheme.kind, scheme.label), []).append(sent.images)
                for label, stage in sent.stages.items():
                    outputs.setdefault((stage.kind, label), []).append(stage.images)
                for name, figures in sent.report.items():
                    reports.setdefault(name, []).append(figures.float())
            seconds = time.time() - started
            per_image = {}
            for (kind, label), parts in outputs.items():
                recon = torch.cat(parts)
                values = {m: PER_IMAGE_METRICS[m](recon, images).double() for m in PER_IMAGE}
                kid = (float("nan"),) * 3 if args.no_kid else kid_with_interval(inception_features(recon).numpy(), reference, subsets)
                per_image[(kind, label)] = values
                row = {"scheme": kind, "model": label, "snr_db": snr, "seconds": round(seconds, 1),
                       "kid": kid[0], "kid_low": kid[1], "kid_high": kid[2]}
                if (kind, label) == (scheme.kind, scheme.label):
                    row["calibration_seconds"] = round(calibration_seconds, 1)
                    for name, parts in reports.items():  # e.g. the fraction of images InverseJSCC accepted
                        row[name] = torch.cat(parts).mean().item()
                        row[name + "_per_image"] = torch.cat(parts).tolist()
                for m, v in values.items():
                    row[m], row[m + "_ci95"] = mean_ci95(v)
                    row[m + "_per_image"] = [round(float(x), 5) for x in v]  # for paired comparisons across runs
                results["rows"].append(row)
            keys = list(per_image)
            for key in keys[1:]:  # paired differences: stage outputs against the scheme's own output
                diff_row = results["rows"][-len(keys)]
                for m in PER_IMAGE:
                    diff_row[f"delta_{m}_vs_{key[1]}"] = mean_ci95(per_image[keys[0]][m] - per_image[key][m])
            print(json.dumps(results["rows"][-len(keys):], indent=None), flush=True)
    print()
    print("| scheme | model | SNR | PSNR (dB) | MS-SSIM | LPIPS-alex | KID [2.5 %, 97.5 %] | accepted | s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results["rows"]:
        accepted = f"{r['accepted']:.2f}" if "accepted" in r else "–"
        print(f"| {r['scheme']} | {r['model']} | {r['snr_db']:g} | {r['psnr']:.2f} ± {r['psnr_ci95']:.2f} | "
              f"{r['ms-ssim']:.3f} ± {r['ms-ssim_ci95']:.3f} | {r['lpips-alex']:.3f} ± {r['lpips-alex_ci95']:.3f} | "
              f"{r['kid']:.4f} [{r['kid_low']:.4f}, {r['kid_high']:.4f}] | {accepted} | {r['seconds']} |")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
