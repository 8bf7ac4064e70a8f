"""Markdown tables from the JSON files of ``benchmarks/scheme_comparison.py`` (the README's tables).

Rows: PSNR, MS-SSIM, LPIPS-alex (mean ± 95 % t-interval), KID with its half-subset range, and the
fraction of images a scheme's consistency test accepted (InverseJSCC); when
two models of a file share the SNR and the images, paired differences (first model minus the
reference ``--against``) with their 95 % intervals.

    python benchmarks/results_tables.py results/inverse/in_range.json [--against deepjscc-64-bcr1_48]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from genjscc.evaluation.evaluate import mean_ci95


def table(path: Path, against: str | None) -> str:
    doc = json.loads(path.read_text())
    lines = [f"{doc['data']}, {doc['n']} images, {doc['channel']}; `{doc['command']}`", "",
             "| model | SNR (dB) | PSNR (dB) | MS-SSIM | LPIPS-alex | KID [2.5 %, 97.5 % of half subsets] | accepted |",
             "|---|---|---|---|---|---|---|"]
    rows = doc["rows"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['snr_db']:g} | {r['psnr']:.2f} ± {r['psnr_ci95']:.2f} | "
                     f"{r['ms-ssim']:.3f} ± {r['ms-ssim_ci95']:.3f} | {r['lpips-alex']:.3f} ± {r['lpips-alex_ci95']:.3f} | "
                     + (f"{r['kid']:.4f} [{r['kid_low']:.4f}, {r['kid_high']:.4f}] |" if r["kid"] == r["kid"] else "– |")
                     + (f" {r['accepted']:.2f} |" if "accepted" in r else " – |"))
    paired = []
    for r in rows:
        ref = next((x for x in rows if x["model"] == against and x["snr_db"] == r["snr_db"]), None)
        if ref is None or r is ref or "psnr_per_image" not in r or "psnr_per_image" not in ref:
            if ref is not None and r is not ref:  # older files: stage-output differences only
                d = r.get(f"delta_psnr_vs_{against}")
                if d:
                    paired.append(f"| {r['model']} − {against} | {r['snr_db']:g} | {d[0]:+.2f} ± {d[1]:.2f} | "
                                  f"{r[f'delta_ms-ssim_vs_{against}'][0]:+.3f} ± {r[f'delta_ms-ssim_vs_{against}'][1]:.3f} | "
                                  f"{r[f'delta_lpips-alex_vs_{against}'][0]:+.3f} ± {r[f'delta_lpips-alex_vs_{against}'][1]:.3f} |")
            continue
        cells = []
        for m in ("psnr", "ms-ssim", "lpips-alex"):
            mean, half = mean_ci95(torch.tensor(r[m + "_per_image"], dtype=torch.float64) - torch.tensor(ref[m + "_per_image"], dtype=torch.float64))
            cells.append(f"{mean:+.3f} ± {half:.3f}" if m != "psnr" else f"{mean:+.2f} ± {half:.2f}")
        paired.append(f"| {r['model']} − {against} | {r['snr_db']:g} | " + " | ".join(cells) + " |")
    if paired:
        lines += ["", "Paired differences per image (same images and channel draws):", "",
                  "| difference | SNR (dB) | ΔPSNR (dB) | ΔMS-SSIM | ΔLPIPS-alex |", "|---|---|---|---|---|", *paired]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", type=Path, nargs="+")
    parser.add_argument("--against", default="deepjscc-64-bcr1_48")
    args = parser.parse_args()
    for path in args.files:
        print(table(path, args.against) + "\n")


if __name__ == "__main__":
    main()
