"""Quality of the shipped DeepJSCC models on the held-out photo crops (64x64, 93 crops).

Evaluates every DeepJSCC in the zoo over AWGN and block Rayleigh (MMSE CSI) at -5, 0, 5,
10 dB, writes records to results/deepjscc/ and prints a markdown table; with
--update-cards the table is written into each model card (genjscc/zoo/NAME.md).

    python benchmarks/deepjscc_quality.py [--update-cards] [--models deepjscc-64-bcr1_192]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from genjscc.channel.registry import build_channel
from genjscc.data import load_dataset, stack
from genjscc.evaluation.evaluate import evaluate
from genjscc.evaluation.records import records_markdown, write_records
from genjscc.models.deepjscc import DeepJSCC
from genjscc.schemes import build_scheme
from genjscc.train.deepjscc import deepjscc_card
from genjscc.zoo import ZOO

SNRS = (-5.0, 0.0, 5.0, 10.0)
METRICS = ("psnr", "ssim", "ms-ssim", "lpips-alex")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--update-cards", action="store_true")
    parser.add_argument("--out", type=Path, default=Path("results/deepjscc"))
    parser.add_argument("--models", default="", help="comma-separated zoo names (default: every DeepJSCC in the zoo)")
    args = parser.parse_args()
    chosen = set(filter(None, args.models.split(",")))
    images = stack(load_dataset("photos", "test", 64))
    for name, entry in ZOO.items():
        if entry.kind != "deepjscc" or (chosen and name not in chosen):
            continue
        scheme = build_scheme(name)
        records = []
        for channel in ("awgn", "rayleigh"):
            part = evaluate(scheme, images, build_channel(channel), SNRS, metrics=METRICS, batch_size=128)
            write_records(part, args.out / f"{name}-{channel}.csv")
            records += part
        table = records_markdown(records)
        print(f"## {name}\n\n{table}")
        if args.update_cards:
            meta = DeepJSCC.from_weights(entry.path).metadata
            command = "python benchmarks/deepjscc_quality.py --update-cards"
            measured = f"Held-out photo crops (93 at 64x64), mean ± 95 % CI; `{command}`\n\n{table}"
            entry.path.with_suffix(".md").write_text(deepjscc_card(meta, measured))


if __name__ == "__main__":
    main()
