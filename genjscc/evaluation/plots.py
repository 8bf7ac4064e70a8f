"""Figures from evaluation records: metric vs SNR (or BCR) curves with 95 % intervals, and image grids.

Curves follow the field's figure style: one line per record identity (model and its weights,
options, data, size, seed, BCR, channel: records of different settings are never joined), labelled
by the model and whatever else differs between the lines; markers at the measured points, the
95 % t-interval as a band (an error bar where a line has one point), sized for one column of a two-column paper
(3.5 in wide). Matplotlib runs headless (Agg); the format follows the file suffix (.png, .pdf, .svg).
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

from genjscc.utils.atomic import atomic_path
from genjscc.evaluation.records import Record, check_consistent, describe_identity, identity

__all__ = ["plot_records", "comparison_grid", "METRIC_LABELS"]

METRIC_LABELS = {
    "psnr": "PSNR (dB)", "ssim": "SSIM", "ms-ssim": "MS-SSIM", "ms-ssim-db": "MS-SSIM (dB)", "lpips-alex": "LPIPS (AlexNet)",
    "lpips-vgg": "LPIPS (VGG)", "fid": "FID", "kid": "KID",
}
LOWER_IS_BETTER = {"lpips-alex", "lpips-vgg", "fid", "kid"}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(plt, fig, path: str | Path, dpi: int) -> Path:
    """Write ``fig`` atomically in the format of the file suffix, then close it."""
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower() or "png"
    try:
        with atomic_path(path, suffix=f".{fmt}") as tmp:
            fig.savefig(tmp, dpi=dpi, format=fmt)
    finally:
        plt.close(fig)
    return path


def _without_bcr(options: str) -> str:
    """Scheme options (canonical JSON) less ``bcr``, which a BCR axis runs over."""
    if not options:
        return options
    rest = {k: v for k, v in json.loads(options).items() if k != "bcr"}
    return json.dumps(rest, sort_keys=True) if rest else ""


def _bcr_value(text: str) -> float:
    return float(Fraction(text)) if text else math.nan


def plot_records(records: list[Record], path: str | Path, *, metric: str = "psnr", x: str = "snr",
                 title: str | None = None) -> Path:
    """Write a figure of ``metric`` against ``x`` (``"snr"``: one line per record identity;
    ``"bcr"``: one line per model family x channel x SNR x the rest of the identity) with 95 %
    bands; returns the path. Two records of one identity and SNR that disagree are a ``ValueError``."""
    if x not in ("snr", "bcr"):
        raise ValueError(f"x must be snr or bcr, got {x!r}")
    chosen = [r for r in records if r.metric == metric]
    if not chosen:
        available = sorted({r.metric for r in records}) or ["none"]
        raise ValueError(f"no records of metric {metric!r}; the records hold {', '.join(available)}")
    chosen = check_consistent(chosen)
    lines: dict[tuple, tuple[str, list[Record]]] = {}
    if x == "snr":  # a line per identity
        labels = describe_identity(chosen)
        for r in chosen:
            lines.setdefault(identity(r), (labels[identity(r)], []))[1].append(r)
    else:  # a line per model family (the name less its -bcr part), SNR and whatever else but the BCR
        family = [replace(r, model=r.model.split("-bcr")[0], weights="", bcr="", options=_without_bcr(r.options))
                  for r in chosen]
        labels = describe_identity(family, hide=("scheme", "channel"))
        for r, f in zip(chosen, family):
            key = (identity(f), r.snr_db)
            label = f"{r.scheme}: {labels[identity(f)]} ({r.channel}, {r.snr_db:g} dB)"
            lines.setdefault(key, (label, []))[1].append(r)
    plt = _pyplot()
    with plt.rc_context({"font.size": 8, "axes.titlesize": 8, "legend.fontsize": 6.5, "lines.linewidth": 1.2,
                         "lines.markersize": 3.5, "axes.grid": True, "grid.alpha": 0.3}):
        fig, ax = plt.subplots(figsize=(3.5, 2.5 + 0.15 * len(lines)), constrained_layout=True)
        for label, rows in lines.values():
            rows = sorted(rows, key=lambda r: r.snr_db if x == "snr" else _bcr_value(r.bcr))
            xs = [r.snr_db if x == "snr" else _bcr_value(r.bcr) for r in rows]
            means = [r.mean for r in rows]
            line, = ax.plot(xs, means, marker="o", label=label)
            half = [0.0 if math.isnan(r.ci95) else r.ci95 for r in rows]
            if len(rows) == 1:  # a band needs two points
                ax.errorbar(xs, means, yerr=half, color=line.get_color(), capsize=2, linewidth=0.8)
            ax.fill_between(xs, [m - h for m, h in zip(means, half)], [m + h for m, h in zip(means, half)],
                            color=line.get_color(), alpha=0.15, linewidth=0)
        if x == "bcr":
            ax.set_xscale("log", base=2)
            ax.set_xlabel("bandwidth compression ratio k/n")
        else:
            ax.set_xlabel("SNR (dB)")
        ax.set_ylabel(METRIC_LABELS.get(metric, metric) + (" ↓" if metric in LOWER_IS_BETTER else " ↑"))
        if title:
            ax.set_title(title)
        fig.legend(loc="outside lower center", ncol=1, frameon=False)  # below the axes: never over a curve
        return _save(plt, fig, path, dpi=200)


def comparison_grid(originals, rows: list[tuple[str, list, list[str]]], snrs: list[float], path: str | Path, *,
                    display_height: int | None = None, note: str | None = None) -> Path:
    """An image grid: the originals on top, then one row per scheme and one column per SNR.

    ``originals``: ``[n, 3, H, W]`` in [0, 1], or a list of ``[3, H_i, W_i]`` (whole images of different sizes);
    ``rows``: ``(scheme label, tiles, captions)`` with one tile per SNR (images as the originals) and one caption
    (e.g. "24.1 dB / 0.29") per SNR. Each tile is its images side by side; with ``display_height`` (pixels)
    every image is resized to that height for display only (aspect kept, antialiased), which images of
    different heights need (default: the smallest height). ``note``: a line under the figure (e.g. that the
    images were downscaled for display).
    """
    stacked = not isinstance(originals, (list, tuple))
    images = list(originals)
    if display_height is None and len({im.shape[-2] for im in images}) > 1:
        display_height = min(im.shape[-2] for im in images)
    plt = _pyplot()
    columns = len(snrs)
    first = _strip(images, display_height)
    if stacked and display_height is None:  # square crops: small tiles, as the demo has always drawn them
        column_width, row_height = 2.2, 0.9
    else:  # whole images: wide tiles, the height their aspect needs plus the title
        column_width = 5.0
        row_height = column_width * first.shape[0] / first.shape[1] + 0.35
    with plt.rc_context({"font.size": 7}):
        fig, axes = plt.subplots(len(rows) + 1, columns, squeeze=False,
                                 figsize=(column_width * columns, row_height * (len(rows) + 1) + (0.2 if note else 0)),
                                 constrained_layout=True)
        for c in range(columns):
            axes[0][c].imshow(first)
            axes[0][c].set_title("original" if c == 0 else "")
        for r, (label, tiles, captions) in enumerate(rows, start=1):
            for c, (tile, caption) in enumerate(zip(tiles, captions)):
                axes[r][c].imshow(_strip(list(tile), display_height))
                axes[r][c].set_title(f"{label} @ {snrs[c]:g} dB\n{caption}")
        for ax in axes.flat:
            ax.set_xticks([])
            ax.set_yticks([])
        if note:
            fig.suptitle(note, y=0.0, va="bottom", fontsize=6)
        return _save(plt, fig, path, dpi=150)


def _strip(images: list, display_height: int | None):
    """``[3, H_i, W_i]`` images side by side as one ``[H, sum W, 3]`` array in [0, 1], each resized to
    ``display_height`` first when given (aspect kept; for display only)."""
    import torch
    import torch.nn.functional as F

    shown = []
    for image in images:
        image = image.detach().float().cpu().clamp(0, 1)
        if display_height is not None and image.shape[-2] != display_height:
            width = max(1, round(image.shape[-1] * display_height / image.shape[-2]))
            image = F.interpolate(image.unsqueeze(0), size=(display_height, width), mode="bilinear", antialias=True,
                                  align_corners=False).squeeze(0).clamp(0, 1)
        shown.append(image)
    return torch.cat(shown, dim=2).permute(1, 2, 0).numpy()  # [H, sum W, 3]
