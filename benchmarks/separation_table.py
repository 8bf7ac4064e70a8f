"""Separation baselines vs DeepJSCC: the table of issue 4.

Every codec (JPEG, JPEG 2000, WebP, AVIF, HEIF) with the ideal code and with 5G LDPC + QAM
(best MCS per SNR), and the shipped DeepJSCC models where installed, at -5, 0, 5, 10 dB,
BCR 1/12 and 1/48, over AWGN and block Rayleigh (LMMSE receiver), on the held-out 64x64
photo crops. One transmit call per SNR (the whole test set), so the separation schemes make
one MCS / outage-target choice per SNR.

Writes ``OUT/records.json`` and ``OUT/records.csv`` (genjscc.evaluation.records' schema),
``OUT/choices.json`` (winning MCS or outage target, images fitted / arrived per point) and
``OUT/table.md``, and prints the markdown table. Each (model, BCR, channel) is cached in
``OUT/parts/`` so an interrupted run resumes where it stopped.

    python benchmarks/separation_table.py [--out results/separation] [--codes capacity,ldpc]
        [--codecs jpeg,jpeg2000,webp,avif,heif] [--bcr 1/12,1/48] [--channels awgn,rayleigh]
        [--snr -5,0,5,10] [--limit N]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

import torch

DEEPJSCC = {"1/12": "deepjscc-64-bcr1_12", "1/48": "deepjscc-64-bcr1_48"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("results/separation"))
    parser.add_argument("--codes", default="capacity,ldpc")
    parser.add_argument("--codecs", default="jpeg,jpeg2000,webp,avif,heif")
    parser.add_argument("--bcr", default="1/12,1/48")
    parser.add_argument("--channels", default="awgn,rayleigh")
    parser.add_argument("--snr", default="-5,0,5,10")
    parser.add_argument("--limit", type=int, default=None, help="only the first N test crops")
    parser.add_argument("--no-deepjscc", action="store_true", help="separation rows only")
    args = parser.parse_args()

    from genjscc.channel.registry import build_channel
    from genjscc.data import load_dataset, stack
    from genjscc.evaluation.evaluate import evaluate
    from genjscc.evaluation.records import Record, write_records
    from genjscc.metrics import PER_IMAGE_METRICS
    from genjscc.schemes import build_scheme
    from genjscc.zoo import ZOO

    snrs = [float(s) for s in args.snr.split(",")]
    metrics = ["psnr"] + (["lpips-alex"] if "lpips-alex" in PER_IMAGE_METRICS else [])
    images = stack(load_dataset("photos", "test", 64, limit=args.limit))
    parts = args.out / "parts"
    parts.mkdir(parents=True, exist_ok=True)

    jobs = []  # (bcr, channel, model name, builder); cheap ones first
    for bcr in args.bcr.split(","):
        for channel in args.channels.split(","):
            if not args.no_deepjscc and DEEPJSCC.get(bcr) in ZOO and ZOO[DEEPJSCC[bcr]].path.exists():
                jobs.append((bcr, channel, DEEPJSCC[bcr], lambda bcr=bcr: build_scheme(DEEPJSCC[bcr])))
    for code in args.codes.split(","):
        for bcr in args.bcr.split(","):
            for channel in args.channels.split(","):
                for codec in args.codecs.split(","):
                    jobs.append((bcr, channel, f"{codec}+{code}",
                                 lambda codec=codec, code=code, bcr=bcr: build_scheme(
                                     "separation", codec=codec, code=code, bcr=bcr)))

    records, choices = [], {}
    for bcr, channel_name, name, build in jobs:
        part = parts / f"{name}_{bcr.replace('/', '-')}_{channel_name}.json"
        if part.exists():
            saved = json.loads(part.read_text())
            records += [Record(**r) for r in saved["records"]]
            choices.update(saved["choices"])
            continue
        channel = build_channel(channel_name)
        scheme = build()  # fallback: the training photos' mean (separation's training_data default)
        start = time.perf_counter()
        recs = evaluate(scheme, images, channel, snrs, metrics=metrics, batch_size=len(images))
        seconds = time.perf_counter() - start
        picked = {f"{name}|{bcr}|{channel.describe()}|{snr:g}": asdict(c)
                  for (ch, snr), c in getattr(scheme, "choices", {}).items()}
        part.write_text(json.dumps({"records": [asdict(r) for r in recs], "choices": picked, "seconds": seconds}))
        records += recs
        choices.update(picked)
        print(f"{name} BCR {bcr} {channel.describe()}: {seconds:.0f} s", file=sys.stderr, flush=True)

    write_records(records, args.out / "records.json")
    write_records(records, args.out / "records.csv")
    (args.out / "choices.json").write_text(json.dumps(choices, indent=1) + "\n")
    table = markdown_table(records, choices, snrs, metrics)
    (args.out / "table.md").write_text(table)
    print(table)


def markdown_table(records, choices, snrs, metrics) -> str:
    """One block per (BCR, channel); a row per model; each SNR cell 'PSNR / LPIPS [choice]'."""
    by_key: dict[tuple, dict] = {}
    for r in records:
        by_key.setdefault((r.bcr, r.channel), {}).setdefault(r.model, {}).setdefault(r.snr_db, {})[r.metric] = r
    lines = []
    n = records[0].n if records else 0
    unit = "PSNR (dB)" + (" / LPIPS-Alex" if "lpips-alex" in metrics else "")
    for (bcr, channel), models in by_key.items():
        lines.append(f"\n**BCR {bcr}, {channel}** — {unit}, mean over {n} crops; "
                     "separation cells: winning MCS or outage target; images whose file fitted, and that arrived "
                     "('none': nothing arrived with any option; counts then from the largest-budget one)\n")
        lines.append("| scheme | " + " | ".join(f"{s:g} dB" for s in snrs) + " |")
        lines.append("|---|" + "---|" * len(snrs))
        for model, by_snr in models.items():
            cells = []
            for s in snrs:
                m = by_snr.get(s, {})
                cell = " / ".join(f"{m[k].mean:.2f}" if k == "psnr" else f"{m[k].mean:.3f}" for k in metrics if k in m)
                c = choices.get(f"{model}|{bcr}|{channel}|{s:g}")
                if c is not None:
                    option = c["option"].replace(" (all lost)", "")
                    option = option.split(" R=")[0]
                    cell += f" ({option}; {c['fitted']} fit, {c['delivered']} ok)"
                cells.append(cell)
            lines.append(f"| {model} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    torch.set_num_threads(2)
    main()
