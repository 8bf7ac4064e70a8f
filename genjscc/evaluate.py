"""Sweeps of a scheme over SNRs, with one record schema for every scheme.

A record (one row per scheme x SNR x metric)::

    scheme, model, data, size, bcr, channel, snr_db, metric, mean, ci95, n

``ci95`` is the half-width of the 95 % Student-t confidence interval of the mean over the
``n`` test images. Channel noise is seeded per (seed, SNR, batch), so two schemes see the
same noise draws where their symbol counts agree, and reruns give identical numbers.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sys
from contextlib import contextmanager
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
from genjscc.data import test_spec
from genjscc.schemes import Scheme
from genjscc.weights import content_hash

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
    data_label = test_spec(data)
    identities: dict[str, tuple[str, str]] = {}  # output label -> (weights' content hash, options as JSON)

    def output_identity(label: str) -> tuple[str, str]:
        if label not in identities:
            files, options = ((getattr(scheme, "weight_files", ()), getattr(scheme, "options", {}))
                              if label == scheme.label else scheme.stage_identity(label))
            identities[label] = (content_hash(files), options_text(options))
        return identities[label]

    def record(output: tuple[str, str], snr: float, metric: str, mean: float, ci95: float) -> Record:
        kind, label = output
        weights, options = output_identity(label)
        return Record(
            kind, label, data_label, int(height), bcr_text, channel.describe(), float(snr), metric, mean, ci95,
            images.shape[0], weights, options, int(seed),
        )

    for snr in snrs_db:
        # the scheme's output, then its stage outputs (same images, same channel draws: paired)
        values: dict[tuple[str, str], dict[str, list[Tensor]]] = {}
        features: dict[tuple[str, str], list[Tensor]] = {}
        reported: dict[str, list[Tensor]] = {}
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
            for name, figures in getattr(scheme, "reports", {}).items():  # e.g. the fraction InverseJSCC accepted
                reported.setdefault(name, []).append(figures.float().cpu())
            if progress is not None:
                progress(snr, start + batch.shape[0], images.shape[0])
        for key in values or features:
            for m in names:
                records.append(record(key, snr, m, *mean_ci95(torch.cat(values[key][m]))))
            if key == (scheme.kind, scheme.label):
                for name, parts in reported.items():
                    records.append(record(key, snr, name, *mean_ci95(torch.cat(parts))))
            if set_names:
                stats = FeatureStats.from_features(torch.cat(features[key]).numpy())
                for m, value in set_metric_values(set_names, reference, stats).items():
                    records.append(record(key, snr, m, value, float("nan")))
    return records


def options_text(options: dict) -> str:
    """Scheme options as canonical JSON (sorted keys; values as given, else as text), ``""`` for none."""
    if not options:
        return ""
    return json.dumps({str(k): v if isinstance(v, (str, int, float, bool)) or v is None else str(v)
                       for k, v in options.items()}, sort_keys=True)


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

    def key(self, common: dict, weights: str = "") -> str:
        """Every setting that determines the result, as one canonical JSON string; ``weights`` is the
        content hash of the scheme's weight files, so new weights under an old path make a new point."""
        return json.dumps({"scheme": self.scheme, "options": dict(self.options), "weights": weights,
                           "channel": self.channel, "csi": self.csi, "snr_db": self.snr_db, **common}, sort_keys=True)


SWEEP_SETTINGS = ("schemes", "snr", "channels", "csi", "data", "size", "limit", "metrics", "seed", "batch_size")


def _listed(config: dict, name: str, default: list) -> list:
    """Setting ``name`` as a list: a single value is a one-element list; an empty list is an error."""
    value = config.get(name, default)
    if value is None:
        raise ValueError(f"sweep setting {name} is empty; give a value or a list, or leave the setting out")
    values = list(value) if isinstance(value, (list, tuple)) else [value]
    if not values:
        raise ValueError(f"sweep setting {name} is an empty list; give at least one value, e.g. {name}: {default!r}")
    return values


def _integer(config: dict, name: str, default, low: int) -> int | None:
    value = config.get(name, default)
    if value is None and default is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"sweep setting {name} must be a whole number of at least {low}, got {value!r}")
    return value


def _text(value, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{what} must be a name, got {value!r}")
    return value.strip()


def sweep_points(config: dict) -> tuple[list[SweepPoint], dict]:
    """Points and common settings of a sweep configuration (a mapping, e.g. read from YAML)::

        schemes: [deepjscc-64-bcr1_12, {spec: separation, options: {codec: webp, bcr: 1/12}}]
        snr: [-5, 0, 5, 10]          channels: [awgn, rayleigh]      csi: mmse
        data: photos    size: 64     limit: null     metrics: [psnr, lpips-alex]    seed: 0

    Every setting is checked here (types, names, ranges), so a bad one fails before anything
    runs; a single value where a list is expected (``snr: 10``) is a one-element list.
    """
    from genjscc.channel import snr_tensor
    from genjscc.channel_registry import build_channel

    if not isinstance(config, dict):
        raise ValueError("a sweep configuration is a mapping (schemes:, snr:, channels:, ...)")
    unknown = sorted(set(config) - set(SWEEP_SETTINGS))
    if unknown:
        raise ValueError(f"unknown sweep setting(s) {unknown}; known: {sorted(SWEEP_SETTINGS)}")
    if not config.get("schemes"):
        raise ValueError("a sweep needs a list of schemes (zoo names, paths, or {spec: ..., options: {...}})")
    schemes = []
    for entry in _listed(config, "schemes", []):
        if isinstance(entry, str) and entry.strip():
            schemes.append((entry.strip(), ()))
        elif isinstance(entry, dict) and "spec" in entry and not set(entry) - {"spec", "options"} \
                and isinstance(entry.get("options") or {}, dict):
            spec = _text(entry["spec"], "a sweep scheme's spec")
            schemes.append((spec, tuple(sorted((str(k).replace("-", "_"), v)
                                               for k, v in (entry.get("options") or {}).items()))))
        else:
            raise ValueError(f"a sweep scheme is a name or {{spec: ..., options: {{...}}}}, got {entry!r}")
    snrs = []
    for value in _listed(config, "snr", [-5, 0, 5, 10]):
        try:
            if isinstance(value, bool):
                raise TypeError
            snrs.append(float(value))  # numbers, and numbers written as text ('10')
        except (TypeError, ValueError):
            raise ValueError(f"sweep setting snr holds dB numbers such as [-5, 0, 5], got {value!r}") from None
    snr_tensor(snrs, len(snrs))  # finite, in the range the channel models
    csi = _text(config.get("csi", "mmse"), "sweep setting csi")
    channels = [_text(c, "a sweep channel") for c in _listed(config, "channels", ["awgn"])]
    for name in channels:
        build_channel(name, csi)
    metrics = [_text(m, "a sweep metric") for m in _listed(config, "metrics", list(DEFAULT_METRICS))]
    unknown = [m for m in metrics if m not in PER_IMAGE_METRICS and m not in SET_METRICS]
    if unknown:
        raise ValueError(f"unknown metric(s) {unknown} in the sweep; available: "
                         f"{sorted(PER_IMAGE_METRICS) + list(SET_METRICS)}")
    size = _integer(config, "size", 64, 8)
    if size % 8:
        raise ValueError(f"sweep setting size must be a multiple of 8, got {size}")
    _integer(config, "batch_size", 128, 1)
    common = {"data": test_spec(_text(config.get("data", "photos"), "sweep setting data")), "size": size,
              "limit": _integer(config, "limit", None, 1), "metrics": metrics, "seed": _integer(config, "seed", 0, 0)}
    points = [SweepPoint(s, o, c, csi, snr) for s, o in schemes for c in channels for snr in snrs]
    return points, common


def read_store(path: Path) -> dict[str, list[Record]]:
    """Finished points of a sweep store (JSON lines ``{"key": ..., "records": [...]}``).

    A torn last line (a killed sweep) is ignored; any other line that is not an entry means the
    file is not a sweep store: a ``ValueError`` naming the line, so nothing is appended to it.
    """
    done: dict[str, list[Record]] = {}
    path = Path(path)
    if not path.exists():
        return done
    try:
        lines = path.read_text().splitlines()
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not a sweep store (JSON lines written by genjscc sweep); "
                         "give another --store") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            if number == len(lines):
                continue  # a line cut by a kill: that point is simply run again
            entry = None
        try:
            done[entry["key"]] = [Record(**r) for r in entry["records"]]
        except (TypeError, KeyError):
            raise ValueError(f"{path} line {number} is not a sweep store entry; it is not a store written by "
                             "genjscc sweep: give another --store") from None
    return done


@contextmanager
def _claim(store_file, key: str, wait: bool):
    """Hold an advisory lock on the byte of ``store_file`` that ``key`` hashes to, so two sweeps on one
    store never compute the same point at once; yields False when another holds it and ``wait`` is False."""
    try:
        import fcntl
    except ImportError:  # no POSIX locks (Windows): every sweep computes its own points
        yield True
        return
    offset = int(hashlib.sha256(key.encode()).hexdigest()[:8], 16)
    try:
        fcntl.lockf(store_file, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB), 1, offset)
    except (BlockingIOError, PermissionError):
        yield False
        return
    try:
        yield True
    finally:
        fcntl.lockf(store_file, fcntl.LOCK_UN, 1, offset)


def run_sweep(config: dict, store: Path, *, batch_size: int | None = None, progress=None) -> list[Record]:
    """Evaluate every point of ``config`` not yet in ``store``, appending each as soon as it is done.

    Everything is checked before the first point runs: the settings, the store, the test data and
    every scheme (built with its options, its image size checked). A point's key holds the
    content hash of its scheme's weights, so retrained weights under an old path are evaluated
    again. An interrupted sweep resumes where it stopped; two sweeps on one store share the work
    (a point another sweep is computing is taken up last, and read back if it finished).
    ``progress(done, total, point)`` is called before each point. Returns the records of all
    points, in the configuration's order.
    """
    from genjscc.data import load_dataset, stack
    from genjscc.schemes import build_scheme

    points, common = sweep_points(config)
    batch = batch_size or int(config.get("batch_size", 128))
    store = Path(store)
    done = read_store(store)
    images = stack(load_dataset(common["data"], "test", common["size"], limit=common["limit"]))
    built: dict = {}
    for point in points:
        scheme_key = (point.scheme, point.options)
        if scheme_key not in built:
            scheme = build_scheme(point.scheme, **dict(point.options))
            scheme.check_size(common["size"], common["size"])
            built[scheme_key] = scheme
    keys = [point.key(common, content_hash(built[(point.scheme, point.options)].weight_files)) for point in points]
    prepared: set = set()
    store.parent.mkdir(parents=True, exist_ok=True)
    with open(store, "a") as fh:
        pending, wait, finished = list(range(len(points))), False, 0
        while pending:
            deferred = []
            for i in pending:
                point, key = points[i], keys[i]
                if progress is not None:
                    progress(finished, len(points), point)
                if key not in done:
                    with _claim(fh, key, wait) as mine:
                        if not mine:
                            deferred.append(i)  # another sweep is computing it: come back to it at the end
                            continue
                        done.update(read_store(store))  # another sweep may have finished it meanwhile
                        if key not in done:
                            done[key] = _run_point(point, key, built, prepared, images, common, batch, fh)
                finished += 1
            pending, wait = deferred, True
    if progress is not None:
        progress(len(points), len(points), None)
    return [r for key in keys for r in done[key]]


def _run_point(point: SweepPoint, key: str, built: dict, prepared: set, images: Tensor, common: dict, batch: int,
               fh) -> list[Record]:
    """Evaluate one point and append it to the open store ``fh`` (one flushed line: a kill loses at most it)."""
    from genjscc.channel_registry import build_channel

    scheme_key = (point.scheme, point.options)
    if scheme_key not in prepared:
        prepare_scheme(built[scheme_key], common["data"], common["size"], common["size"])
        prepared.add(scheme_key)
    records = evaluate(built[scheme_key], images, build_channel(point.channel, point.csi), [point.snr_db],
                       data=common["data"], metrics=common["metrics"], batch_size=batch, seed=common["seed"])
    fh.write(json.dumps({"key": key, "records": [asdict(r) for r in records]}) + "\n")
    fh.flush()
    os.fsync(fh.fileno())
    return records
