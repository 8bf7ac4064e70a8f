"""Sweeps of a scheme over SNRs, with one record schema for every scheme.

A record (one row per scheme x SNR x metric)::

    scheme, model, data, size, bcr, channel, snr_db, metric, mean, ci95, n

``ci95`` is the half-width of the 95 % Student-t confidence interval of the mean over the
``n`` test images. Channel noise is seeded per (seed, SNR, batch), so two schemes see the
same noise draws where their symbol counts agree, and reruns give identical numbers.
"""

from __future__ import annotations

import json
import math
import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable

import torch
from torch import Tensor

from genjscc.channel import Channel
from genjscc.metrics import DEFAULT_METRICS, PER_IMAGE_METRICS, SET_METRICS, ms_ssim_setting
from genjscc.records import (  # noqa: F401  (re-exported: the record schema lives in genjscc.records)
    FIELDS,
    Record,
    read_records,
    records_markdown,
    records_table,
    records_to_csv,
    records_to_json,
    write_records,
)
from genjscc.schemes import Scheme

__all__ = ["Record", "evaluate", "send", "prepare_scheme", "folder_features", "run_sweep", "sweep_points", "read_store", "records_to_csv", "records_to_json", "records_table", "write_records", "mean_ci95"]

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


def send(scheme: Scheme, images: Tensor, channel: Channel, snr_db: float | Tensor, *,
         generator: torch.Generator | None = None) -> Tensor:
    """``scheme.transmit`` checked: reconstructions ``[B, 3, H, W]`` clamped to [0, 1].

    A non-finite output (NaN or inf weights, a diverged model) is a ``ValueError``, never a
    silently clamped image.
    """
    recon = scheme.transmit(images, channel, snr_db, generator=generator)
    if not torch.isfinite(recon).all():
        raise ValueError(f"{scheme.label} produced NaN or infinite values: its weights are corrupt or it diverged; "
                         "retrain it or use another model")
    return recon.clamp(0, 1)


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

    def record(output: tuple[str, str], snr: float, metric: str, mean: float, ci95: float) -> Record:
        kind, label = output
        return Record(
            kind, label, data, int(height), bcr_text, channel.describe(), float(snr), metric, mean, ci95,
            images.shape[0],
        )

    for snr in snrs_db:
        # the scheme's output, then its stage outputs (same images, same channel draws: paired)
        values: dict[tuple[str, str], dict[str, list[Tensor]]] = {}
        features: dict[tuple[str, str], list[Tensor]] = {}
        for start in range(0, images.shape[0], batch_size):
            batch = images[start : start + batch_size].to(scheme.device)
            g = torch.Generator(device=scheme.device).manual_seed(_noise_seed(seed, snr, start))
            recon = send(scheme, batch, channel, float(snr), generator=g)
            outputs = {(scheme.kind, scheme.label): recon}
            stages = getattr(scheme, "stage_outputs", {})  # schemes that skip Scheme.__init__ have none
            outputs.update({(kind, label): out.clamp(0, 1) for label, (kind, out) in stages.items()})
            for key, out in outputs.items():
                with torch.no_grad():
                    for m in names:
                        values.setdefault(key, {}).setdefault(m, []).append(PER_IMAGE_METRICS[m](out, batch).float().cpu())
                if set_names:
                    features.setdefault(key, []).append(inception_features(out))
            if progress is not None:
                progress(snr, start + batch.shape[0], images.shape[0])
        for key in values or features:
            for m in names:
                records.append(record(key, snr, m, *mean_ci95(torch.cat(values[key][m]))))
            if set_names:
                stats = FeatureStats.from_features(torch.cat(features[key]).numpy())
                for m, value in set_metric_values(set_names, reference, stats).items():
                    records.append(record(key, snr, m, value, float("nan")))
    return records


def _noise_seed(seed: int, snr: float, start: int) -> int:
    return (seed * 1_000_003 + int(round(snr * 100)) * 7919 + start) % (2**63)


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


# ----------------------------------------------------------------------------- sweeps


@dataclass(frozen=True)
class SweepPoint:
    """One evaluation of a sweep: a scheme (spec + options) on one channel at one SNR."""

    scheme: str
    options: tuple  # sorted (key, value) pairs of the scheme's options
    channel: str
    csi: str
    snr_db: float

    def key(self, common: dict) -> str:
        """Every setting that determines the result, as one canonical JSON string."""
        return json.dumps({"scheme": self.scheme, "options": dict(self.options), "channel": self.channel,
                           "csi": self.csi, "snr_db": self.snr_db, **common}, sort_keys=True)


def sweep_points(config: dict) -> tuple[list[SweepPoint], dict]:
    """Points and common settings of a sweep configuration (a mapping, e.g. read from YAML)::

        schemes: [deepjscc-64-bcr1_12, {spec: separation, options: {codec: webp, bcr: 1/12}}]
        snr: [-5, 0, 5, 10]          channels: [awgn, rayleigh]      csi: mmse
        data: photos    size: 64     limit: null     metrics: [psnr, lpips-alex]    seed: 0
    """
    known = {"schemes", "snr", "channels", "csi", "data", "size", "limit", "metrics", "seed", "batch_size"}
    unknown = sorted(set(config) - known)
    if unknown:
        raise ValueError(f"unknown sweep setting(s) {unknown}; known: {sorted(known)}")
    if not config.get("schemes"):
        raise ValueError("a sweep needs a list of schemes (zoo names, paths, or {spec: ..., options: {...}})")
    schemes = []
    for entry in config["schemes"]:
        if isinstance(entry, str):
            schemes.append((entry, ()))
        elif isinstance(entry, dict) and "spec" in entry:
            schemes.append((str(entry["spec"]), tuple(sorted((entry.get("options") or {}).items()))))
        else:
            raise ValueError(f"a sweep scheme is a name or {{spec: ..., options: {{...}}}}, got {entry!r}")
    snrs = [float(s) for s in config.get("snr", [-5, 0, 5, 10])]
    channels = list(config.get("channels", ["awgn"]))
    csi = str(config.get("csi", "mmse"))
    common = {"data": config.get("data", "photos"), "size": int(config.get("size", 64)), "limit": config.get("limit"),
              "metrics": list(config.get("metrics", DEFAULT_METRICS)), "seed": int(config.get("seed", 0))}
    points = [SweepPoint(s, o, c, csi, snr) for s, o in schemes for c in channels for snr in snrs]
    return points, common


def read_store(path: Path) -> dict[str, list[Record]]:
    """Finished points of a sweep store (JSON lines ``{"key": ..., "records": [...]}``); a torn last line is ignored."""
    done: dict[str, list[Record]] = {}
    path = Path(path)
    if not path.exists():
        return done
    for line in path.read_text().splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut by a kill: that point is simply run again
        done[entry["key"]] = [Record(**r) for r in entry["records"]]
    return done


def run_sweep(config: dict, store: Path, *, batch_size: int | None = None, progress=None) -> list[Record]:
    """Evaluate every point of ``config`` not yet in ``store``, appending each as soon as it is done.

    An interrupted sweep resumes where it stopped: finished points are read back, never
    recomputed. ``progress(done, total, point)`` is called before each point. Returns the
    records of all points, in the configuration's order.
    """
    from genjscc.channel_registry import build_channel
    from genjscc.data import load_dataset, stack
    from genjscc.schemes import build_scheme

    points, common = sweep_points(config)
    store = Path(store)
    store.parent.mkdir(parents=True, exist_ok=True)
    done = read_store(store)
    images = None
    built: dict = {}
    out: list[Record] = []
    for i, point in enumerate(points):
        key = point.key(common)
        if progress is not None:
            progress(i, len(points), point)
        if key not in done:
            if images is None:
                images = stack(load_dataset(common["data"], "test", common["size"], limit=common["limit"]))
            scheme_key = (point.scheme, point.options)
            if scheme_key not in built:
                built[scheme_key] = prepare_scheme(build_scheme(point.scheme, **dict(point.options)), common["data"],
                                                   common["size"], common["size"])
            records = evaluate(built[scheme_key], images, build_channel(point.channel, point.csi), [point.snr_db],
                               data=common["data"], metrics=common["metrics"],
                               batch_size=batch_size or int(config.get("batch_size", 128)), seed=common["seed"])
            with open(store, "a") as fh:  # one line per point, flushed: a kill loses at most the current point
                fh.write(json.dumps({"key": key, "records": [asdict(r) for r in records]}) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            done[key] = records
        out += done[key]
    if progress is not None:
        progress(len(points), len(points), None)
    return out
