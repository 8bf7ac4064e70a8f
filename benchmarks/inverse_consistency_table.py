"""The README's InverseJSCC consistency table from ``benchmarks/inverse_consistency.sh``'s JSON files.

One row per file and SNR (photos or in-range data, BCR, SNR): DeepJSCC's PSNR and LPIPS-alex, then
per consistency rule in the file the paired differences against DeepJSCC (per image, same images
and channel draws, 95 % t-intervals), the mean weight α of G and the fraction accepted (α > 0),
and in range the share of the untested inversion's LPIPS gain that the rule keeps. The last column
is the untested inversion (``...:unchecked``). Prints whether issue 21's targets are met: on photos
ΔLPIPS ≤ 0 and ΔPSNR ≥ −0.5 dB for the default rule at every point; in range, on ≥ 128 images,
≥ 80 % of the gain kept at −5 and 0 dB.

    python benchmarks/inverse_consistency_table.py results/inverse/consistency_*.json
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from generative_in_range_table import paired


def rule_name(model: str) -> str:
    """``"default"`` for the scheme's default label, else the rule suffix (``"reencoding-q0.9-b1-s1"``)."""
    suffix = model.split(")", 1)[1].lstrip(":")
    return suffix or "default"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", type=Path, nargs="+")
    args = parser.parse_args()
    lines, misses, rules_seen = [], [], []
    for path in args.results:
        result = json.loads(path.read_text())
        in_range = result["data"].startswith("prior:")
        for snr in sorted({r["snr_db"] for r in result["rows"]}):
            rows = [r for r in result["rows"] if r["snr_db"] == snr]
            base = next(r for r in rows if r["scheme"] == "deepjscc")
            unchecked = next(r for r in rows if r["model"].endswith(":unchecked"))
            bcr = re.search(r"bcr(\d+_\d+)", base["model"]).group(1).replace("_", "/")
            point = f"{result['n']} {'in range' if in_range else 'photos'}, {bcr}, {snr:g} dB"
            cells = [point, f"{base['psnr']:.2f} / {base['lpips-alex']:.3f}"]
            gain = paired(unchecked, base, "lpips-alex")[0]
            for row in rows:
                if row["scheme"] != "inverse" or row["model"].endswith(":unchecked"):
                    continue
                name = rule_name(row["model"])
                if name not in rules_seen:
                    rules_seen.append(name)
                dp, dl = paired(row, base, "psnr"), paired(row, base, "lpips-alex")
                cell = f"{dp[0]:+.2f} ± {dp[1]:.2f}, {dl[0]:+.3f} ± {dl[1]:.3f} (α {row['weight']:.2f}; {row['accepted']:.2f})"
                if in_range:
                    cell += f": {100 * dl[0] / gain:.0f} % of the gain" if gain < 0 else ": no gain to keep"
                cells.append(cell)
                if name != "default":
                    continue
                if not in_range and (dl[0] > 0 or dp[0] < -0.5):
                    misses.append(f"{point}: {dp[0]:+.2f} dB, {dl[0]:+.4f}")
                if in_range and snr <= 0 and (result["n"] < 128 or gain >= 0 or dl[0] / gain < 0.8):
                    misses.append(f"{point}: {100 * dl[0] / gain:.0f} % of the gain kept")
            dp, dl = paired(unchecked, base, "psnr"), paired(unchecked, base, "lpips-alex")
            cells.append(f"{dp[0]:+.2f} ± {dp[1]:.2f}, {dl[0]:+.3f} ± {dl[1]:.3f}")
            lines.append("| " + " | ".join(cells) + " |")
    header = ["data, BCR, SNR", "DeepJSCC PSNR / LPIPS-alex"] + [
        f"{name} rule: ΔPSNR, ΔLPIPS (mean α; accepted)" for name in rules_seen] + ["no test: ΔPSNR, ΔLPIPS"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    print("\n".join(lines))
    print("\ntargets: " + ("all met" if not misses else "missed: " + "; ".join(misses)))


if __name__ == "__main__":
    main()
