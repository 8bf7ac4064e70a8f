"""Evaluation of one scheme over SNRs, with one record schema for every scheme.

A record (one row per scheme x SNR x metric)::

    scheme, model, data, size, bcr, channel, snr_db, metric, mean, ci95, n

``ci95`` is the half-width of the 95 % Student-t confidence interval of the mean over the
``n`` test images. Channel noise is seeded per (seed, SNR, batch), so two schemes see the
same noise draws where their symbol counts agree, and reruns give identical numbers.
"""

from __future__ import annotations

import json
import math
from typing import Iterable

import torch
from torch import Tensor

from genjscc.channel import Channel
from genjscc.evaluation.records import Record
from genjscc.metrics import DEFAULT_METRICS, PER_IMAGE_METRICS, SET_METRICS, ms_ssim_setting
from genjscc.schemes import Scheme, Stage, Transmission
from genjscc.utils.weights import content_hash

__all__ = ["evaluate", "transmit_checked", "mean_ci95", "options_text"]


def mean_ci95(values: Tensor) -> tuple[float, float]:
    """Mean and half-width of the 95 % t-interval of ``values [n]``."""
    from scipy.stats import t

    v = values.double().flatten()
    n = v.numel()
    mean = v.mean().item()
    if n < 2:
        return mean, float("nan")
    return mean, float(t.ppf(0.975, n - 1) * v.std(unbiased=True).item() / math.sqrt(n))


def transmit_checked(scheme: Scheme, images: Tensor, channel: Channel, snr_db: float | Tensor, *,
                     generator: torch.Generator | None = None) -> Transmission:
    """``scheme.transmit`` checked: its :class:`Transmission` with the reconstructions ``[B, 3, H, W]`` and
    every stage's images clamped to [0, 1].

    A non-finite reconstruction (NaN or inf weights, a diverged model) is a ``ValueError``, never a
    silently clamped image. A scheme that returns a bare tensor (written before ``Transmission``) is
    read as one with no stages and no report.
    """
    sent = scheme.transmit(images, channel, snr_db, generator=generator)
    if not isinstance(sent, Transmission):
        sent = Transmission(sent)
    if not torch.isfinite(sent.images).all():
        raise ValueError(f"{scheme.label} produced NaN or infinite values: its weights are corrupt or it diverged; "
                         "retrain it or use another model")
    stages = {label: Stage(stage.kind, stage.images.clamp(0, 1)) for label, stage in sent.stages.items()}
    return Transmission(sent.images.clamp(0, 1), stages, dict(sent.report))


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
    from genjscc.data import test_spec  # here, not at import: sending one image needs no data specs

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
            sent = transmit_checked(scheme, batch, channel, float(snr), generator=g)
            outputs = {(scheme.kind, scheme.label): sent.images}
            outputs.update({(stage.kind, label): stage.images for label, stage in sent.stages.items()})
            for key, out in outputs.items():
                with torch.no_grad():
                    for m in names:
                        values.setdefault(key, {}).setdefault(m, []).append(PER_IMAGE_METRICS[m](out, batch).float().cpu())
                if set_names:
                    features.setdefault(key, []).append(inception_features(out))
            for name, figures in sent.report.items():  # e.g. the fraction InverseJSCC accepted
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
