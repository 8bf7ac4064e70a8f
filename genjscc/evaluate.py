"""Sweeps of a scheme over SNRs, with one record schema for every scheme.

A record (one row per scheme x SNR x metric)::

    scheme, model, data, size, bcr, channel, snr_db, metric, mean, ci95, n

``ci95`` is the half-width of the 95 % Student-t confidence interval of the mean over the
``n`` test images. Channel noise is seeded per (seed, SNR, batch), so two schemes see the
same noise draws where their symbol counts agree, and reruns give identical numbers.
"""

from __future__ import annotations

import csv
import io
import json
import math
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable

import torch
from torch import Tensor

from genjscc.channel import Channel
from genjscc.metrics import DEFAULT_METRICS, PER_IMAGE_METRICS, SET_METRICS, ms_ssim_setting
from genjscc.schemes import Scheme

__all__ = ["Record", "evaluate", "prepare_scheme", "folder_features", "records_to_csv", "records_to_json", "records_table", "write_records", "mean_ci95"]

FIELDS = ("scheme", "model", "data", "size", "bcr", "channel", "snr_db", "metric", "mean", "ci95", "n")


@dataclass
class Record:
    scheme: str
    model: str
    data: str
    size: int
    bcr: str
    channel: str
    snr_db: float
    metric: str
    mean: float
    ci95: float
    n: int


def mean_ci95(values: Tensor) -> tuple[float, float]:
    """Mean and half-width of the 95 % t-interval of ``values [n]``."""
    from scipy.stats import t

    v = values.double().flatten()
    n = v.numel()
    mean = v.mean().item()
    if n < 2:
        return mean, float("nan")
    return mean, float(t.ppf(0.975, n - 1) * v.std(unbiased=True).item() / math.sqrt(n))


def prepare_scheme(scheme: Scheme, data: str, height: int, width: int) -> Scheme:
    """Give ``scheme`` what it takes from the training data: the mean image of ``data`` at H x W.

    Only schemes that output a fallback image use it (separation); for the others nothing is
    computed.
    """
    if type(scheme).use_training_mean is not Scheme.use_training_mean:
        from genjscc.data import training_mean_image

        scheme.use_training_mean(training_mean_image(data, height, width))
    return scheme


def evaluate(
    scheme: Scheme,
    images: Tensor,
    channel: Channel,
    snrs_db: Iterable[float],
    *,
    data: str = "photos",
    metrics: Iterable[str] = DEFAULT_METRICS,
    batch_size: int = 64,
    seed: int = 0,
    progress=None,
    note=None,
) -> list[Record]:
    """Send ``images [N, 3, H, W]`` in [0, 1] through ``scheme`` at each SNR; one record per metric.

    Set-level metrics (``fid``, ``kid``) compare all reconstructions at an SNR with all
    targets on Inception features; their ``ci95`` is NaN. ``progress(snr, done, total)`` is
    called after each batch; ``note(text)`` receives what the caller should be told (e.g. a
    metric that cannot be computed at this image size and is left out).
    """
    if images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(f"images must be [N, 3, H, W], got {tuple(images.shape)}")
    height, width = images.shape[-2:]
    scheme.check_size(height, width)
    names = list(metrics)
    if "ms-ssim" in names and ms_ssim_setting(min(height, width)) is None:
        names.remove("ms-ssim")
        if note is not None:
            note(f"ms-ssim left out: {height}x{width} images are too small for any multi-scale setting")
    unknown = [m for m in names if m not in PER_IMAGE_METRICS and m not in SET_METRICS]
    if unknown:
        raise ValueError(f"unknown metric(s) {unknown}; available: {sorted(PER_IMAGE_METRICS) + list(SET_METRICS)}")
    set_names = [m for m in names if m in SET_METRICS]
    names = [m for m in names if m not in SET_METRICS]
    if set_names:
        from genjscc.metrics.fid import FeatureStats, inception_features, set_metric_values

        reference = FeatureStats.from_features(inception_features(images.to(scheme.device)).numpy())
    bcr = scheme.bcr(height, width)
    bcr_text = str(bcr) if bcr is not None else ""
    records = []

    def record(snr: float, metric: str, mean: float, ci95: float) -> Record:
        return Record(
            scheme.kind, scheme.label, data, int(height), bcr_text, channel.describe(), float(snr), metric, mean, ci95,
            images.shape[0],
        )

    for snr in snrs_db:
        values: dict[str, list[Tensor]] = {m: [] for m in names}
        features: list[Tensor] = []
        for start in range(0, images.shape[0], batch_size):
            batch = images[start : start + batch_size].to(scheme.device)
            g = torch.Generator(device=scheme.device).manual_seed(_noise_seed(seed, snr, start))
            recon = scheme.transmit(batch, channel, float(snr), generator=g)
            if not torch.isfinite(recon).all():
                raise ValueError(f"{scheme.label} produced NaN or infinite values at {snr:g} dB: its weights are "
                                 "corrupt or it diverged; retrain it or use another model")
            recon = recon.clamp(0, 1)
            with torch.no_grad():
                for m in names:
                    values[m].append(PER_IMAGE_METRICS[m](recon, batch).float().cpu())
            if set_names:
                features.append(inception_features(recon))
            if progress is not None:
                progress(snr, start + batch.shape[0], images.shape[0])
        for m in names:
            records.append(record(snr, m, *mean_ci95(torch.cat(values[m]))))
        if set_names:
            stats = FeatureStats.from_features(torch.cat(features).numpy())
            for m, value in set_metric_values(set_names, reference, stats).items():
                records.append(record(snr, m, value, float("nan")))
    return records


def _noise_seed(seed: int, snr: float, start: int) -> int:
    return (seed * 1_000_003 + int(round(snr * 100)) * 7919 + start) % (2**63)


# ----------------------------------------------------------------------------- output


def records_to_csv(records: list[Record]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=FIELDS)
    writer.writeheader()
    for r in records:
        writer.writerow(asdict(r))
    return buffer.getvalue()


def records_to_json(records: list[Record]) -> str:
    return json.dumps({"fields": list(FIELDS), "results": [asdict(r) for r in records]}, indent=2) + "\n"


def write_records(records: list[Record], path: Path) -> None:
    """Write CSV (``.csv``) or JSON (anything else) atomically."""
    from genjscc.atomic import atomic_write_text

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, records_to_csv(records) if path.suffix == ".csv" else records_to_json(records))


def read_records(path: Path) -> list[Record]:
    path = Path(path)
    if path.suffix == ".csv":
        rows = list(csv.DictReader(path.open()))
        return [
            Record(r["scheme"], r["model"], r["data"], int(r["size"]), r["bcr"], r["channel"], float(r["snr_db"]),
                   r["metric"], float(r["mean"]), float(r["ci95"]), int(r["n"]))
            for r in rows
        ]
    return [Record(**r) for r in json.loads(path.read_text())["results"]]


def _by_row(records: list[Record]) -> tuple[list[str], dict[tuple, dict[str, Record]]]:
    """Metric names in order of appearance, and records keyed by (model, bcr, channel, SNR) then metric."""
    metrics = list(dict.fromkeys(r.metric for r in records))
    rows: dict[tuple, dict[str, Record]] = {}
    for r in records:
        rows.setdefault((r.model, r.bcr, r.channel, r.snr_db), {})[r.metric] = r
    return metrics, rows


def _cell(r: Record | None, digits: int = 4) -> str:
    """``mean ± ci95`` (just the mean for set-level metrics, whose ci95 is NaN)."""
    if r is None:
        return ""
    return f"{r.mean:.{digits}f}" if math.isnan(r.ci95) else f"{r.mean:.{digits}f} ± {r.ci95:.{digits}f}"


def records_markdown(records: list[Record], digits: int = 3) -> str:
    """A markdown table: one row per (model, bcr, channel, SNR), one column per metric (mean ± ci95)."""
    metrics, rows = _by_row(records)
    lines = ["| model | BCR | channel | SNR (dB) | " + " | ".join(metrics) + " |", "|---" * (4 + len(metrics)) + "|"]
    for (model, bcr, channel, snr), by_metric in rows.items():
        cells = [_cell(by_metric.get(m), digits) for m in metrics]
        lines.append(f"| {model} | {bcr} | {channel} | {snr:g} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def records_table(records: list[Record]):
    """A rich Table: one row per (model, channel, SNR), one column per metric (mean ± ci95)."""
    from rich.table import Table

    metrics, rows = _by_row(records)
    table = Table(title="genjscc evaluate")
    for col in ("model", "bcr", "channel", "SNR (dB)", *metrics, "n"):
        table.add_column(col, justify="right" if col not in ("model", "channel") else "left")
    for (model, bcr, channel, snr), by_metric in rows.items():
        cells = [_cell(by_metric.get(m)) for m in metrics]
        n = next(iter(by_metric.values())).n
        table.add_row(model, bcr, channel, f"{snr:g}", *cells, str(n))
    return table


def print_progress_to_stderr(snr: float, done: int, total: int) -> None:
    print(f"\rSNR {snr:g} dB: {done}/{total}", end="\n" if done >= total else "", file=sys.stderr, flush=True)


def folder_features(root: str | Path, batch_size: int = 32, device: str = "cpu", progress=None):
    """Inception statistics (with features) of every image under folder ``root`` (any size)."""
    from genjscc.images import DataError, list_images, load_image
    from genjscc.metrics.fid import image_set_features

    root = Path(root)
    if not root.is_dir():
        raise DataError(f"not a folder: {root}")
    files = list_images(root)
    if len(files) < 2:
        raise DataError(f"FID/KID need at least 2 images under {root}, found {len(files)}")
    return image_set_features((load_image(p) for p in files), len(files), batch_size, device, progress)


def print_note_to_stderr(text: str) -> None:
    print(f"note: {text}", file=sys.stderr)
