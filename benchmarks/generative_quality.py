"""Quality of the shipped GenerativeJSCC models beside the DeepJSCC they started from (held-out photos).

Evaluates each zoo model of kind ``generative`` and the shipped DeepJSCC of its BCR over AWGN at -5, 0,
5, 10 dB on the 93 held-out 64x64 crops, plus the GenerativeJSCC with its detail gain forced to
0 (the model without what the StyleGAN2 synthesis adds), writes records to results/generative/
and prints a markdown table; with --update-cards the table goes into each model card.

    python benchmarks/generative_quality.py [--update-cards] [--models generative-64-bcr1_192]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from genjscc.channel.registry import build_channel
from genjscc.data import load_dataset, stack
from genjscc.evaluation.evaluate import evaluate
from genjscc.evaluation.records import records_markdown, write_records
from genjscc.models.generative_jscc import GenerativeJSCC
from genjscc.schemes import build_scheme
from genjscc.schemes.network import NetworkScheme
from genjscc.train.generative import generative_card
from genjscc.zoo import ZOO

SNRS = (-5.0, 0.0, 5.0, 10.0)
METRICS = ("psnr", "ms-ssim", "lpips-alex")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--update-cards", action="store_true")
    parser.add_argument("--out", type=Path, default=Path("results/generative"))
    parser.add_argument("--models", default="", help="comma-separated zoo names (default: every GenerativeJSCC)")
    args = parser.parse_args()
    chosen = set(filter(None, args.models.split(",")))
    images = stack(load_dataset("photos", "test", 64))
    channel = build_channel("awgn")
    references: dict[str, list] = {}
    for name, entry in ZOO.items():
        if entry.kind != "generative" or (chosen and name not in chosen):
            continue
        model = GenerativeJSCC.from_weights(entry.path)
        bcr = model.bcr(64, 64)
        base = f"deepjscc-64-bcr{bcr.numerator}_{bcr.denominator}"  # the shipped DeepJSCC of the same BCR
        if base not in references:
            references[base] = evaluate(build_scheme(base), images, channel, SNRS, metrics=METRICS)
        reference = references[base]
        records = evaluate(NetworkScheme(model, name), images, channel, SNRS, metrics=METRICS)
        if model.config.decoder == "residual":
            without = GenerativeJSCC.from_weights(entry.path)
            with torch.no_grad():
                without.detail_gain.zero_()
            records += evaluate(NetworkScheme(without, f"{name} (gain 0: no synthesis)"), images, channel, SNRS,
                                metrics=METRICS)
        write_records(records + reference, args.out / f"{name}-awgn.csv")
        table = records_markdown(records + reference)
        print(f"## {name}\n\n{table}")
        if args.update_cards:
            command = "python benchmarks/generative_quality.py --update-cards"
            measured = f"Held-out photo crops (93 at 64x64), AWGN, mean ± 95 % CI; `{command}`\n\n{table}"
            entry.path.with_suffix(".md").write_text(generative_card(model.metadata, measured))


if __name__ == "__main__":
    main()
