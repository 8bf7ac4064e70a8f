"""The README's in-range GenerativeJSCC table from ``benchmarks/generative_in_range.sh``'s two JSON files.

One row per SNR: PSNR and LPIPS-alex of each arm, the paired differences (per image, same images
and channel draws) of the synthesis decoder against the DeepJSCC arm and against the same decoder
with random synthesis weights, with 95 % t-intervals, and KID (DeepJSCC arm -> synthesis decoder).
Prints the table and whether each of issue 20's in-range targets is met.

    python benchmarks/generative_in_range_table.py results/generative/in_range-1_48.json \\
        [--kid results/generative/in_range-1_48-kid.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from genjscc.evaluation.evaluate import mean_ci95


def _rows(path: Path) -> dict[tuple[str, float], dict]:
    return {(r["model"], r["snr_db"]): r for r in json.loads(path.read_text())["rows"]}


def paired(a: dict, b: dict, metric: str) -> tuple[float, float]:
    """Mean and 95 % half-width of ``a - b`` per image."""
    diff = torch.tensor(a[metric + "_per_image"], dtype=torch.float64) - torch.tensor(b[metric + "_per_image"],
                                                                                        dtype=torch.float64)
    return mean_ci95(diff)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", type=Path)
    parser.add_argument("--kid", type=Path, default=None)
    args = parser.parse_args()
    rows = _rows(args.results)
    kid = _rows(args.kid) if args.kid else {}
    snrs = sorted({snr for _, snr in rows})
    arms = [a for a in ("deepjscc", "synthesis", "random", "residual") if (a, snrs[0]) in rows]
    print("| SNR | PSNR " + " / ".join(arms) + " | LPIPS-alex " + " / ".join(arms)
          + " | Δ synthesis − DeepJSCC: PSNR, LPIPS | Δ synthesis − random: PSNR, LPIPS | KID DeepJSCC → synthesis |")
    print("|---|---|---|---|---|---|")
    misses = []
    for snr in snrs:
        s, d, r = rows[("synthesis", snr)], rows[("deepjscc", snr)], rows.get(("random", snr))
        dp, dl = paired(s, d, "psnr"), paired(s, d, "lpips-alex")
        cells = [f"{snr:g} dB", " / ".join(f"{rows[(a, snr)]['psnr']:.2f}" for a in arms),
                 " / ".join(f"{rows[(a, snr)]['lpips-alex']:.3f}" for a in arms),
                 f"{dp[0]:+.2f} ± {dp[1]:.2f} dB, {dl[0]:+.3f} ± {dl[1]:.3f}"]
        need_psnr = 1.0 if snr <= 0 else 0.0
        if dp[0] < need_psnr:
            misses.append(f"PSNR vs DeepJSCC at {snr:g} dB: {dp[0]:+.2f} (target ≥ {need_psnr:+.1f})")
        if dl[0] > -0.05:
            misses.append(f"LPIPS vs DeepJSCC at {snr:g} dB: {dl[0]:+.3f} (target ≤ −0.05)")
        if r is not None:
            rp, rl = paired(s, r, "psnr"), paired(s, r, "lpips-alex")
            cells.append(f"{rp[0]:+.2f} ± {rp[1]:.2f} dB, {rl[0]:+.3f} ± {rl[1]:.3f}")
            if snr <= 0 and (rp[0] - rp[1] < 0.5 or rl[0] + rl[1] > -0.03):
                misses.append(f"vs random at {snr:g} dB: {rp[0]:+.2f} ± {rp[1]:.2f} dB, {rl[0]:+.3f} ± {rl[1]:.3f} "
                              "(target ≥ 0.5 dB and ≤ −0.03, intervals excluding zero)")
        else:
            cells.append("–")
        kd, ks = kid.get(("deepjscc", snr)), kid.get(("synthesis", snr))
        cells.append(f"{kd['kid']:.4f} → {ks['kid']:.4f}" if kd and ks else "–")
        if kd and ks and ks["kid"] >= kd["kid"]:
            misses.append(f"KID at {snr:g} dB not lower")
        print("| " + " | ".join(cells) + " |")
    print("\ntargets: " + ("all met" if not misses else "missed: " + "; ".join(misses)))


if __name__ == "__main__":
    main()
