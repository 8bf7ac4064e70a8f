"""Evaluation of one scheme over SNRs, with one record schema for every scheme.

A record (one row per scheme x SNR x metric)::

    scheme, model, data, size, bcr, channel, snr_db, metric, mean, ci95, n, weights, options, seed, sizes

``ci95`` is the half-width of the 95 % Student-t confidence interval of the mean over the
``n`` test images, each weighing the same (:mod:`genjscc.evaluation.records`). Images of
different sizes (whole images at their own size) are sent in batches of one size. Channel
noise is seeded per (seed, SNR, batch: the images sent before it), so two schemes see the same
noise draws where their symbol counts agree, and reruns give identical numbers.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Iterable

import torch
from torch import Tensor

from genjscc.channel import Channel
from genjscc.evaluation.records import NATIVE_SIZE, Record, sizes_text
from genjscc.metrics import DEFAULT_METRICS, PER_IMAGE_METRICS, SET_METRICS, ms_ssim_setting
from genjscc.schemes import Scheme, Stage, Transmission
from genjscc.utils.images import ImageSizeError, check_image_batch
from genjscc.utils.weights import content_hash

__all__ = ["evaluate", "transmit_checked", "mean_ci95", "options_text", "plan_batches", "Batches", "check_sizes",
           "effective_bcr", "MAX_BATCH_PIXELS"]


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


#: most pixels one batch of a list of images holds (64 images of 256 x 256): a batch of large images is smaller
#: (a single 4000 x 3000 image is a batch of its own). Stacked tensors are batched by ``batch_size`` alone.
MAX_BATCH_PIXELS = 2**22


@dataclass(frozen=True)
class Batches:
    """How evaluation walks the images: ``sizes[i] = (H, W)`` of image ``i`` and ``batches``, lists of image
    indices of one size, sent in this order (the channel noise of a batch is seeded by the number of images
    sent before it, so equal-size images batch and draw exactly as one stacked tensor does)."""

    images: Tensor | Sequence[Tensor]
    sizes: tuple[tuple[int, int], ...]
    batches: tuple[tuple[int, ...], ...]

    def load(self, batch: tuple[int, ...]) -> Tensor:
        """The images of ``batch`` as ``[b, 3, H, W]`` in [0, 1]."""
        if isinstance(self.images, Tensor):
            return self.images[batch[0] : batch[-1] + 1]  # a slice, as batches of a stacked tensor always were
        return torch.stack([self.images[i] for i in batch])


def plan_batches(images: Tensor | Sequence[Tensor], batch_size: int) -> Batches:
    """:class:`Batches` of ``images``: a stacked tensor ``[N, 3, H, W]`` in runs of ``batch_size``, in order; a
    sequence of ``[3, H_i, W_i]`` images (sizes read from its ``sizes`` when it has them, as
    :class:`~genjscc.data.NativeImages` does, so nothing is loaded) grouped by size in order of first
    appearance, each batch at most ``batch_size`` images and :data:`MAX_BATCH_PIXELS` pixels (at least one image)."""
    if isinstance(images, Tensor):
        check_image_batch(images)
        n, _, height, width = images.shape
        return Batches(images, ((int(height), int(width)),) * n,
                       tuple(tuple(range(s, min(s + batch_size, n))) for s in range(0, n, batch_size)))
    sizes = tuple(tuple(int(v) for v in hw) for hw in getattr(images, "sizes", None) or _shapes(images))
    if not sizes:
        raise ValueError("no images to evaluate")
    groups: dict[tuple[int, int], list[int]] = {}
    for i, size in enumerate(sizes):
        groups.setdefault(size, []).append(i)
    batches = []
    for (height, width), members in groups.items():
        step = max(1, min(batch_size, MAX_BATCH_PIXELS // (height * width)))
        batches += [tuple(members[s : s + step]) for s in range(0, len(members), step)]
    return Batches(images, sizes, tuple(batches))


def _shapes(images: Sequence[Tensor]) -> list[tuple[int, int]]:
    for image in images:
        if image.dim() != 3 or image.shape[0] != 3:
            raise ValueError(f"each image must be [3, H, W], got {tuple(image.shape)}")
    return [tuple(image.shape[1:]) for image in images]


def check_sizes(scheme: Scheme, sizes) -> None:
    """Raise ``ValueError`` unless ``scheme`` sends every ``(H, W)`` in ``sizes``; for images that are not all one
    square size (whole images at their own size), the message says so and names what the scheme takes."""
    distinct = list(dict.fromkeys(sizes))
    for height, width in distinct:
        try:
            scheme.check_size(height, width)
        except ImageSizeError as exc:
            if len(distinct) == 1 and height == width:
                raise
            raise ValueError(f"{scheme.label} cannot send whole images at their own size: {exc.problem}; "
                             f"use --size {exc.side}") from None
        except ValueError as exc:
            if len(distinct) == 1 and height == width:
                raise
            raise ValueError(f"{scheme.label} cannot send whole images at their own size: {exc}") from None


def effective_bcr(scheme: Scheme, sizes) -> str:
    """The record's ``bcr``: k / (3 H W) on the true pixels, exact when every image has the same (``"1/12"``),
    else its mean over the images as a 4-significant-digit decimal; ``""`` when the scheme has no fixed BCR."""
    per_size = {hw: scheme.bcr(*hw) for hw in dict.fromkeys(sizes)}
    if any(v is None for v in per_size.values()):
        return ""
    if len(set(per_size.values())) == 1:
        return str(next(iter(per_size.values())))
    mean = sum(per_size[hw] for hw in sizes) / len(sizes)
    return f"{float(mean):.4g}"


def _size_fields(sizes) -> tuple[int | str, str]:
    """(record ``size``, record ``sizes``): ``(S, "")`` when every image is S x S, else ``("native", "WxH:n,...")``."""
    distinct = set(sizes)
    if len(distinct) == 1:
        (height, width), = distinct
        if height == width:
            return int(height), ""
    return NATIVE_SIZE, sizes_text(sizes)


def _in_order(parts: list[tuple[tuple[int, ...], Tensor]]) -> Tensor:
    """Per-batch values ``[b]`` with their image indices -> one ``[N]`` tensor in image order."""
    index = torch.tensor([i for batch, _ in parts for i in batch])
    values = torch.cat([v for _, v in parts])
    return values if bool((index[1:] > index[:-1]).all()) else values[torch.argsort(index)]


def _metric_names(metrics: Iterable[str], sizes, note) -> list[str]:
    """The metrics asked for, less the MS-SSIM ones where the smallest image is too small for any setting."""
    names = list(metrics)
    unknown = [m for m in names if m not in PER_IMAGE_METRICS and m not in SET_METRICS]
    if unknown:
        raise ValueError(f"unknown metric(s) {unknown}; available: {sorted(PER_IMAGE_METRICS) + list(SET_METRICS)}")
    height, width = min(sizes, key=min)
    multiscale = [m for m in names if m in ("ms-ssim", "ms-ssim-db")]
    if multiscale and ms_ssim_setting(min(height, width)) is None:
        names = [m for m in names if m not in multiscale]
        if note is not None:
            note(f"{', '.join(multiscale)} left out: {width}x{height} images are too small for any multi-scale setting")
    elif multiscale and len({ms_ssim_setting(min(hw))[1] for hw in sizes}) > 1 and note is not None:
        note(f"{', '.join(multiscale)}: images under 112 pixels on a side use fewer scales than the larger ones "
             "(metrics.ms_ssim_setting)")
    return names


def evaluate(
    scheme: Scheme,
    images: Tensor | Sequence[Tensor],
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
    """Send ``images`` through ``scheme`` at each SNR; one record per output x SNR x metric.

    ``images``: a stacked tensor ``[N, 3, H, W]`` in [0, 1], sent in runs of ``batch_size``; or a sequence of
    ``[3, H_i, W_i]`` images in [0, 1] of any sizes (e.g. :class:`~genjscc.data.NativeImages`, read one batch
    at a time), grouped by size (:func:`plan_batches`). Equal-size images give the same numbers either way.
    Every size is checked against the scheme before anything is sent (:func:`check_sizes`). Means weigh every
    image the same; records carry the size (S, or ``native`` with the sizes) and the effective BCR
    (:mod:`genjscc.evaluation.records`). Set-level metrics (``fid``, ``kid``) compare all reconstructions at an
    SNR with all targets on Inception features; their ``ci95`` is NaN. ``progress(snr, done, total)`` is
    called after each batch; ``note(text)`` receives what the caller should be told (e.g. a metric that cannot
    be computed at this image size and is left out).
    """
    if isinstance(images, Tensor) and (images.dim() != 4 or images.shape[1] != 3):
        raise ValueError(f"images must be [N, 3, H, W], got {tuple(images.shape)}")
    plan = plan_batches(images, batch_size)
    check_sizes(scheme, plan.sizes)
    names = _metric_names(metrics, plan.sizes, note)
    set_names = [m for m in names if m in SET_METRICS]
    names = [m for m in names if m not in SET_METRICS]
    if set_names:
        from genjscc.metrics.fid import FeatureStats, inception_features, set_metric_values

        if isinstance(images, Tensor):
            targets = inception_features(images.to(scheme.device))
        else:
            targets = torch.cat([inception_features(plan.load(b).to(scheme.device)) for b in plan.batches])
        reference = FeatureStats.from_features(targets.numpy())
    size, sizes = _size_fields(plan.sizes)
    bcr_text = effective_bcr(scheme, plan.sizes)
    total = len(plan.sizes)
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
        return Record(kind, label, data_label, size, bcr_text, channel.describe(), float(snr), metric, mean, ci95,
                      total, weights, options, int(seed), sizes)

    for snr in snrs_db:
        # the scheme's output, then its stage outputs (same images, same channel draws: paired)
        values: dict[tuple[str, str], dict[str, list]] = {}
        features: dict[tuple[str, str], list[Tensor]] = {}
        reported: dict[str, list] = {}
        sent_so_far = 0
        for indices in plan.batches:
            batch = plan.load(indices).to(scheme.device)
            g = torch.Generator(device=scheme.device).manual_seed(_noise_seed(seed, snr, sent_so_far))
            sent = transmit_checked(scheme, batch, channel, float(snr), generator=g)
            outputs = {(scheme.kind, scheme.label): sent.images}
            outputs.update({(stage.kind, label): stage.images for label, stage in sent.stages.items()})
            for key, out in outputs.items():
                with torch.no_grad():
                    for m in names:
                        per_image = PER_IMAGE_METRICS[m](out, batch).float().cpu()
                        values.setdefault(key, {}).setdefault(m, []).append((indices, per_image))
                if set_names:
                    features.setdefault(key, []).append(inception_features(out))
            for name, figures in sent.report.items():  # e.g. the fraction InverseJSCC accepted
                reported.setdefault(name, []).append((indices, figures.float().cpu()))
            sent_so_far += len(indices)
            if progress is not None:
                progress(snr, sent_so_far, total)
        for key in values or features:
            for m in names:
                records.append(record(key, snr, m, *mean_ci95(_in_order(values[key][m]))))
            if key == (scheme.kind, scheme.label):
                for name, parts in reported.items():
                    records.append(record(key, snr, name, *mean_ci95(_in_order(parts))))
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
