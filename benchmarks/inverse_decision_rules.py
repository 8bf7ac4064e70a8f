"""Compare InverseJSCC consistency rules offline on the solves cached by ``inverse_decision_cache.py``.

Every rule maps a per-image statistic s (lower = G explains what arrived better) to a weight
α ∈ [0, 1] and sends x̂ plus α of G − x̂'s fine band and s·α of its coarse band
(:func:`genjscc.schemes.consistency.blend_images`, one run per ``--shares`` value s; s = 1 is
``x̂ + α (G − x̂)``): hard tests (α = 1 up to the q-quantile of s on the
cached ``calibration`` prior samples) and the scheme's soft weights α = b · P^γ with P the in-range
p-value of s, both as a :class:`ConsistencyTest` through the scheme's own
:func:`genjscc.schemes.consistency.blend_weights`; calibration uses the prior
samples only (the test sets are used for scoring alone). Per rule, set and point it prints the
paired ΔPSNR and ΔLPIPS-alex against DeepJSCC's x̂, the fraction accepted (α > 0) and, in range,
the share of the unchecked LPIPS gain kept; ``AUC`` is P(s on a photo > s on a prior sample).
``symbol_excess`` is the scheme's ``likelihood`` statistic L, ``reencoding_ratio`` its R.

    python benchmarks/inverse_decision_rules.py runs/inverse-decision/deepjscc-64-bcr1_48/awgn_-5dB/default ...
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import torch

from genjscc.evaluation.evaluate import mean_ci95
from genjscc.metrics import PER_IMAGE_METRICS
from genjscc.schemes.consistency import ConsistencyTest, blend_images, blend_weights


def load_set(folder: Path, name: str) -> dict[str, torch.Tensor] | None:
    parts = [torch.load(p) for p in sorted(folder.glob(f"{name}-*.pt"))]
    if not parts:
        return None
    return {k: torch.cat([p[k] for p in parts]) for k in parts[0]}


def snr_of(folder: Path) -> float:
    return float(folder.parent.name.split("_")[-1].removesuffix("dB"))


def mse(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a.float() - b.float()).square().flatten(1).mean(dim=1)


def statistics(c: dict[str, torch.Tensor], snr_db: float) -> dict[str, torch.Tensor]:
    """Candidate statistics [N] from what the receiver has (never ``x``)."""
    sigma2 = 10 ** (-snr_db / 10)  # complex noise variance per symbol at P = 1
    sym_G = (c["received"] - c["enc_G"]).abs().square().mean(dim=1)
    sym_xhat = (c["received"] - c["enc_xhat"]).abs().square().mean(dim=1)
    enc_gap = (c["enc_G"] - c["enc_xhat"]).abs().square().mean(dim=1)
    lp = c["loss"] - c["mse"]
    lpips_G = PER_IMAGE_METRICS["lpips-alex"](c["dec_G"], c["xhat"]).float()
    return {
        "reencoding_ratio": mse(c["dec_G"], c["xhat"]) / (mse(c["dec_xhat"], c["xhat"]) + 1e-8),
        "reencoding_mse": mse(c["dec_G"], c["xhat"]),
        "symbol_residual": sym_G / sigma2,
        "symbol_ratio": sym_G / sym_xhat,
        "symbol_excess": sym_G - sym_xhat,
        "encoding_gap": enc_gap,
        "solver_mse": c["mse"],
        "solver_lpips": lp,
        "solver_loss": c["loss"],
        "mse_over_texture": c["mse"] / (mse(c["dec_xhat"], c["xhat"]) + 1e-8),
        "w_distance": c["w"].norm(dim=1),
        "reencoding_lpips": lpips_G,
        "reencoding_lpips_ratio": lpips_G / (PER_IMAGE_METRICS["lpips-alex"](c["dec_xhat"], c["xhat"]).float() + 1e-8),
    }


def score(c: dict[str, torch.Tensor], alpha: torch.Tensor, bands: ConsistencyTest = ConsistencyTest(low_share=1.0)
          ) -> dict[str, torch.Tensor]:
    out = blend_images(c["xhat"], c["G"], alpha, bands)
    return {"psnr": PER_IMAGE_METRICS["psnr"](out, c["x"]).double(),
            "lpips": PER_IMAGE_METRICS["lpips-alex"](out, c["x"]).double()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", nargs="+", type=Path)
    parser.add_argument("--quantiles", default="0.5,0.7,0.8,0.9,0.95")
    parser.add_argument("--soft", default="0.85:0.333,1:0.25,1:0.333,1:0.5", help="blend:power pairs")
    parser.add_argument("--shares", default="1,0.5", help="coarse-band shares s (1: one weight for all frequencies)")
    parser.add_argument("--lowpass", type=float, default=ConsistencyTest.lowpass, help="σ of the band split / side")
    parser.add_argument("--stats", default=None, help="comma list of statistics (default: all)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    quantiles = [float(q) for q in args.quantiles.split(",")]
    report = []
    for folder in args.folders:
        snr = snr_of(folder)
        sets = {name: load_set(folder, name) for name in ("calibration", "in_range", "photos")}
        if sets["calibration"] is None:
            print(f"{folder}: no calibration yet")
            continue
        calib = statistics(sets["calibration"], snr)
        names = args.stats.split(",") if args.stats else list(calib)
        stats = {name: statistics(sets[name], snr) for name in ("in_range", "photos") if sets[name] is not None}
        base, unchecked = {}, {}
        for name in ("in_range", "photos"):
            if sets[name] is None:
                continue
            n = len(sets[name]["x"])
            base[name] = score(sets[name], torch.zeros(n))
            unchecked[name] = score(sets[name], torch.ones(n))
        print(f"\n== {folder}  (calibration {len(calib[names[0]])}, " +
              ", ".join(f"{k} {len(sets[k]['x'])}" for k in base) + ")")
        for name in base:
            d_p = mean_ci95(unchecked[name]["psnr"] - base[name]["psnr"])
            d_l = mean_ci95(unchecked[name]["lpips"] - base[name]["lpips"])
            print(f"  unchecked {name}: dPSNR {d_p[0]:+.2f}±{d_p[1]:.2f} dLPIPS {d_l[0]:+.3f}±{d_l[1]:.3f}")
        for stat in names:
            weights = [(f"hard q={q}", {"quantile": q, "blend": 1.0}) for q in quantiles]
            weights += [(f"b{b} P^{g}", {"blend": float(b), "power": float(g)})
                        for b, g in (pair.split(":") for pair in args.soft.split(","))]
            rules = [(f"{label} s{share}", ConsistencyTest(**weight, lowpass=args.lowpass, low_share=float(share)))
                     for label, weight in weights for share in args.shares.split(",")]
            for name in ("photos", "in_range"):
                if name in stats:
                    auc = (stats[name][stat].view(-1, 1) > calib[stat].view(1, -1)).float().mean().item()
                    print(f"  {stat:18s} AUC({name} > calibration) {auc:.2f}")
            for label, rule in rules:
                line = f"  {stat:18s} {label:20s}"
                entry = {"folder": str(folder), "snr_db": snr, "statistic": stat, "rule": label}
                for name in base:
                    s = stats[name][stat]
                    alpha = blend_weights(s, calib[stat], rule)
                    sc = score(sets[name], alpha, rule)
                    d_p = mean_ci95(sc["psnr"] - base[name]["psnr"])[0]
                    d_l = mean_ci95(sc["lpips"] - base[name]["lpips"])[0]
                    acc = (alpha > 0).float().mean().item()
                    entry[name] = {"dpsnr": d_p, "dlpips": d_l, "accepted": acc}
                    if name == "in_range":
                        gain = (unchecked[name]["lpips"] - base[name]["lpips"]).mean().item()
                        kept = d_l / gain if gain < 0 else math.nan
                        entry[name]["kept"] = kept
                        line += f" | in {d_p:+.2f} {d_l:+.3f} acc {acc:.2f} kept {kept:.2f}"
                    else:
                        ok = d_l <= 0 and d_p >= -0.5
                        line += f" | ph {d_p:+.2f} {d_l:+.4f} acc {acc:.2f} {'OK' if ok else '  '}"
                print(line)
                report.append(entry)
    if args.out:
        args.out.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
