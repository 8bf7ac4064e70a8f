"""The README tables of the native-size protocol, from ``run.py``'s per-image records.

    python experiments/native_protocol/table.py results/native_protocol/records.jsonl
    python experiments/native_protocol/table.py RECORDS --metric lpips-alex --deepjscc deepjscc-bcr1_12,deepjscc-bcr1_48

Per BCR one table, SNR across, mean over the images of the best-covered row of that BCR (the count is
printed); a cell whose row lacks some of them (a run still going) shows "–". Rows:

* DeepJSCC models named by ``--deepjscc`` (scheme labels in the records; a name with no records yet
  is listed as not measured);
* "best codec + 5G LDPC": per image and point, the codec with the highest PSNR (each with its best MCS for
  that image), then the mean of the metric for that choice (``--best point`` instead: the codec with the
  highest mean PSNR at that point); the codec is chosen by PSNR whatever ``--metric`` shows;
* "best codec + ideal code": the same over the ideal capacity-achieving code;
* each codec over each link, with the images lost (mean image sent) in brackets.

Then, never mixed with the measured rows, the published Kodak numbers (../shared/docs/facts.md §14) with
their source, data set and resolution, and the issue's targets checked against the measured rows.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from fractions import Fraction
from pathlib import Path

LINKS = {"ldpc": "5G LDPC + QAM", "capacity": "ideal code"}
DEFAULT_DEEPJSCC = "deepjscc-bcr1_12,deepjscc-bcr1_48,deepjscc-64-bcr1_12,deepjscc-64-bcr1_48"
HIGHER_IS_BETTER = {"psnr": True, "ms-ssim": True, "ms-ssim-db": True, "lpips-alex": False}
THRESHOLD = {"psnr": 0.1, "ms-ssim": 0.002, "ms-ssim-db": 0.1, "lpips-alex": 0.005}  # "apart" in the best-codec note

# ../shared/docs/facts.md §14: Kodak, 24 images at 768 x 512, AWGN, PSNR (dB) read from the papers' figures (±0.3 dB)
PUBLISHED_SOURCE = ("Published, not measured here: Kodak (24 images, 768x512, native size), AWGN, PSNR dB read "
                    "from the papers' figures (±0.3 dB); DeepJSCC (CNN) as re-run in the WITT paper; "
                    "compiled in facts.md §14")
PUBLISHED_CBR16 = [  # CBR 1/16 at 1 / 4 / 7 / 10 / 13 dB
    ("DeepJSCC (CNN), WITT paper's re-run", ("28.1", "29.5", "30.4", "31.5", "32.1")),
    ("WITT (Swin backbone)", ("29.7", "31.3", "32.6", "33.6", "34.3")),
    ("SwinJSCC (SNR- and rate-adaptive)", ("29.5", "31.1", "32.3", "33.2", "33.8")),
    ("BPG + 5G LDPC", ("28.5", "–", "–", "33.3", "35.5")),
]
PUBLISHED_10DB = [  # 10 dB at CBR 1/48 / 1/24 / 1/16 / 1/12
    ("DeepJSCC (CNN), WITT paper's re-run", ("27.4", "30.0", "–", "33.1")),
    ("WITT (Swin backbone)", ("29.3", "31.9", "33.6", "35.0")),
    ("SwinJSCC (SNR- and rate-adaptive)", ("29.0", "31.5", "33.2", "34.4")),
    ("BPG + 5G LDPC", ("≈28.8", "≈31.2", "≈33.2", "≈34.6")),
    ("VTM + 5G LDPC", ("≈29.6", "≈32.4", "≈34.2", "≈35.6")),
    ("NTSCC+", ("≈29.8", "≈32.5", "≈34.4", "≈35.7")),
]


def load(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def mean(values) -> float:
    values = list(values)
    return sum(values) / len(values)


def best_codec(by_codec: dict[str, dict[str, float]], psnrs: dict[str, dict[str, float]], images,
               how: str) -> tuple[float, str]:
    """Mean over ``images`` of the metric ``by_codec`` for the best codec **by PSNR** (``psnrs``), chosen per
    image (``how="image"``) or per point (``"point"``: the codec with the best mean PSNR), with the codec that
    won (per point) or the codecs' shares (per image). The choice is made once, by PSNR (as the MCS is), and
    every metric is reported for that one reconstruction."""
    if how == "point":
        means = {c: mean(psnrs[c][i] for i in images) for c in by_codec}
        codec = max(means, key=means.get)
        return mean(by_codec[codec][i] for i in images), codec
    wins: dict[str, int] = defaultdict(int)
    total = 0.0
    for i in images:
        codec = max(by_codec, key=lambda c: psnrs[c][i])
        wins[codec] += 1
        total += by_codec[codec][i]
    return total / len(images), ", ".join(f"{c} {n}" for c, n in sorted(wins.items(), key=lambda w: (-w[1], w[0])))


def tables(records: list[dict], metric: str, models: list[str], how: str) -> tuple[str, dict]:
    """Markdown tables per BCR, and ``{(row, bcr, snr): mean}`` for the targets."""
    values: dict[tuple, dict[str, float]] = defaultdict(dict)  # (scheme, bcr, snr) -> {image: value}
    psnrs: dict[tuple, dict[str, float]] = defaultdict(dict)  # the same for PSNR, which picks the best codec
    lost: dict[tuple, set] = defaultdict(set)  # (scheme, bcr, snr) -> images sent as the mean image
    for r in records:
        values[(r["scheme"], r["bcr"], r["snr_db"])][r["image"]] = r[metric]
        psnrs[(r["scheme"], r["bcr"], r["snr_db"])][r["image"]] = r["psnr"]
        if r.get("kind") == "separation" and not r.get("delivered", True):
            lost[(r["scheme"], r["bcr"], r["snr_db"])].add(r["image"])
    codecs = sorted({r["codec"] for r in records if r.get("kind") == "separation"})
    links = [link for link in LINKS if any(r.get("link") == link for r in records)]
    bcrs = sorted({r["bcr"] for r in records}, key=lambda b: Fraction(b))
    snrs = sorted({r["snr_db"] for r in records})
    out, summary, differ = [], {}, []
    for bcr in bcrs:
        keys = [k for k in values if k[1] == bcr]
        if not keys:
            continue
        # the images of the best-covered row; a cell whose row lacks one of them (a run still going) shows "–"
        images = max((set(values[k]) for k in keys), key=len)
        points = [s for s in snrs if any(k[2] == s for k in keys)]
        head = f"| BCR {bcr}, {metric}, mean of {len(images)} images | " + " | ".join(f"{s:g} dB" for s in points) + " |"
        rows = [head, "|---" * (len(points) + 1) + "|"]

        def cell(scheme, snr, images=images):
            v = values.get((scheme, bcr, snr))
            if not v or not images <= set(v):
                return None
            return mean(v[i] for i in images)

        for model in models:
            cells = [cell(model, s) for s in points]
            if all(c is None for c in cells):
                if not any(k[0] == model for k in values):
                    rows.append(f"| {model} | " + " | ".join("not measured yet" for _ in points) + " |")
                continue
            for s, c in zip(points, cells):
                summary[(model, bcr, s)] = c
            rows.append(f"| {model} | " + " | ".join("–" if c is None else f"{c:.2f}" for c in cells) + " |")
        for link in links:
            row = [f"| best codec ({'per image' if how == 'image' else 'per point'}) + {LINKS[link]}"]
            for s in points:
                by_codec = {c: values[(f"{c}+{link}", bcr, s)] for c in codecs if (f"{c}+{link}", bcr, s) in values}
                if not by_codec or any(not images <= set(v) for v in by_codec.values()):  # none, or a codec still running
                    row.append("–")
                    continue
                by_psnr = {c: psnrs[(f"{c}+{link}", bcr, s)] for c in by_codec}
                value, who = best_codec(by_codec, by_psnr, images, how)
                summary[(f"best+{link}", bcr, s)] = value
                other, _ = best_codec(by_codec, by_psnr, images, "point" if how == "image" else "image")
                summary[(f"best+{link}:other", bcr, s)] = other
                if abs(other - value) > THRESHOLD[metric]:
                    differ.append(f"BCR {bcr} {s:g} dB {LINKS[link]} {other - value:+.3g}")
                row.append(f"{value:.2f} ({who})")
            rows.append(" | ".join(row) + " |")
        for link in links:
            for codec in codecs:
                scheme = f"{codec}+{link}"
                cells = []
                for s in points:
                    c = cell(scheme, s)
                    n_lost = len(lost.get((scheme, bcr, s), set()) & images)
                    cells.append("–" if c is None else f"{c:.2f}" + (f" ({n_lost} lost)" if n_lost else ""))
                if any(c != "–" for c in cells):
                    rows.append(f"| {codec} + {LINKS[link]} | " + " | ".join(cells) + " |")
        out.append("\n".join(rows))
    summary["differ"] = differ
    return "\n\n".join(out), summary


def published() -> str:
    rows = [f"_{PUBLISHED_SOURCE}._", "",
            "| published (Kodak 768x512), CBR 1/16 | 1 dB | 4 dB | 7 dB | 10 dB | 13 dB |", "|---|---|---|---|---|---|"]
    rows += [f"| {name} | " + " | ".join(v) + " |" for name, v in PUBLISHED_CBR16]
    rows += ["", "| published (Kodak 768x512), 10 dB | CBR 1/48 | 1/24 | 1/16 | 1/12 |", "|---|---|---|---|---|"]
    rows += [f"| {name} | " + " | ".join(v) + " |" for name, v in PUBLISHED_10DB]
    return "\n".join(rows)


def targets(summary: dict, models: list[str]) -> str:
    """Issue 29's targets: 1/12 not below best codec + LDPC at 1 and 4 dB and within 3 dB of best codec + ideal
    code at 10 dB; 1/48 not below best codec + LDPC at every SNR up to 10 dB."""
    lines = []
    for model in models:
        for bcr, checks in (("1/12", [(1.0, "ldpc", 0.0), (4.0, "ldpc", 0.0), (10.0, "capacity", -3.0)]),
                            ("1/48", [(s, "ldpc", 0.0) for s in (1.0, 4.0, 7.0, 10.0)])):
            for snr, link, allowance in checks:
                ours, theirs = summary.get((model, bcr, snr)), summary.get((f"best+{link}", bcr, snr))
                if ours is None or theirs is None:
                    continue
                gap = ours - theirs
                verdict = "met" if gap >= allowance else f"missed by {allowance - gap:.2f} dB"
                need = "not below" if allowance == 0 else f"at most {-allowance:g} dB below"
                lines.append(f"- {model}, BCR {bcr}, {snr:g} dB: {ours:.2f} vs best codec + {link} {theirs:.2f} "
                             f"({gap:+.2f} dB; target {need}): **{verdict}**")
    return "\n".join(lines) if lines else "- (no DeepJSCC row and separation row at the same point yet)"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("records", type=Path, nargs="?", default=Path("results/native_protocol/records.jsonl"))
    parser.add_argument("--metric", default="psnr", choices=sorted(HIGHER_IS_BETTER))
    parser.add_argument("--deepjscc", default=DEFAULT_DEEPJSCC, help="DeepJSCC scheme labels, comma-separated")
    parser.add_argument("--best", choices=("image", "point"), default="image",
                        help="best codec per image (default) or the codec with the best mean per point")
    args = parser.parse_args(argv)
    records = load(args.records)
    models = [m for m in args.deepjscc.split(",") if m]
    body, summary = tables(records, args.metric, models, args.best)
    sizes = sorted({(r["image"], r["width"], r["height"]) for r in records})
    print(f"## Native-size protocol, AWGN, measured ({len(sizes)} images at their own size: "
          + ", ".join(f"{Path(name).name.removeprefix('photos:')} {w}x{h}" for name, w, h in sizes) + ")\n")
    print(body)
    print("\nLDPC rows: 5G NR LDPC (rates 1/3, 1/2, 2/3) + BPSK/QPSK/16-QAM/64-QAM, 20 BP iterations, the best MCS for "
          "each image on its channel seed; ideal code: k log2(1 + SNR) bits error-free. A file that does not fit or "
          "is lost becomes the training mean image (\"lost\"). Best codec per image: in brackets, how many images "
          "each codec won (chosen by PSNR; the other metrics are those of that choice).")
    differ = summary.pop("differ")
    gaps = [summary[k] - summary[(k[0].removesuffix(':other'), k[1], k[2])] for k in summary if k[0].endswith(":other")]
    if gaps:
        other = "per point (the codec with the best mean)" if args.best == "image" else "per image"
        print(f"\nBest codec {other} instead: {min(gaps):+.3g} to {max(gaps):+.3g} against the rows above; "
              f"more than {THRESHOLD[args.metric]:g} apart at " + ("; ".join(differ) if differ else "no point") + ".")
    print("\n" + published())
    if args.metric == "psnr":
        print("\n### Issue 29 targets (measured rows only)\n")
        print(targets(summary, models))


if __name__ == "__main__":
    main()
