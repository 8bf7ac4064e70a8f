"""Sweeps: every scheme x channel x SNR of a YAML/JSON configuration, checked first, resumable.

A sweep point's key holds every setting that determines its result and the content hash of the
scheme's weights; finished points live in the store (:mod:`genjscc.evaluation.store`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from torch import Tensor

from genjscc.data import test_spec
from genjscc.evaluation.evaluate import check_sizes, evaluate, plan_batches
from genjscc.evaluation.records import Record
from genjscc.evaluation.store import claim_point, read_store
from genjscc.metrics import DEFAULT_METRICS, PER_IMAGE_METRICS, SET_METRICS
from genjscc.utils.weights import content_hash

__all__ = ["SweepPoint", "SWEEP_SETTINGS", "sweep_points", "run_sweep"]


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


def _size(config: dict) -> int | str:
    """Setting ``size``: a side S (a multiple of 8, at least 8) for S x S crops, or ``native`` (whole images)."""
    from genjscc.data.native import NATIVE, parse_size

    value = config.get("size", 64)
    try:
        size = parse_size(value, "sweep setting size") if isinstance(value, (int, str)) else None
    except ValueError:
        size = None
    if size != NATIVE and (size is None or size < 8 or size % 8):
        raise ValueError(f"sweep setting size must be a side in pixels (a multiple of 8, at least 8) for S x S crops, "
                         f"or native (whole images at their own size), got {value!r}")
    return size


def _text(value, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{what} must be a name, got {value!r}")
    return value.strip()


def sweep_points(config: dict) -> tuple[list[SweepPoint], dict]:
    """Points and common settings of a sweep configuration (a mapping, e.g. read from YAML)::

        schemes: [deepjscc-64-bcr1_12, {spec: separation, options: {codec: webp, bcr: 1/12}}]
        snr: [-5, 0, 5, 10]          channels: [awgn, rayleigh]      csi: mmse
        data: photos    size: 64     limit: null     metrics: [psnr, lpips-alex]    seed: 0

    ``size: native`` sends every test image whole at its own size (:mod:`genjscc.data.native`).

    Every setting is checked here (types, names, ranges), so a bad one fails before anything
    runs; a single value where a list is expected (``snr: 10``) is a one-element list.
    """
    from genjscc.channel import snr_tensor
    from genjscc.channel.registry import build_channel

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
    size = _size(config)
    _integer(config, "batch_size", 128, 1)
    common = {"data": test_spec(_text(config.get("data", "photos"), "sweep setting data")), "size": size,
              "limit": _integer(config, "limit", None, 1), "metrics": metrics, "seed": _integer(config, "seed", 0, 0)}
    points = [SweepPoint(s, o, c, csi, snr) for s, o in schemes for c in channels for snr in snrs]
    return points, common


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
    from genjscc.data import held_out_images
    from genjscc.schemes import build_scheme_for_data

    points, common = sweep_points(config)
    batch = batch_size or int(config.get("batch_size", 128))
    store = Path(store)
    done = read_store(store)
    images = held_out_images(common["data"], common["size"], limit=common["limit"])
    sizes = plan_batches(images, batch).sizes
    built: dict = {}
    for point in points:
        scheme_key = (point.scheme, point.options)
        if scheme_key not in built:
            scheme = build_scheme_for_data(point.scheme, common["data"], dict(point.options))
            check_sizes(scheme, sizes)
            built[scheme_key] = scheme
    keys = [point.key(common, content_hash(built[(point.scheme, point.options)].weight_files)) for point in points]
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
                    with claim_point(fh, key, wait) as mine:
                        if not mine:
                            deferred.append(i)  # another sweep is computing it: come back to it at the end
                            continue
                        done.update(read_store(store))  # another sweep may have finished it meanwhile
                        if key not in done:
                            done[key] = _run_point(point, key, built, images, common, batch, fh)
                finished += 1
            pending, wait = deferred, True
    if progress is not None:
        progress(len(points), len(points), None)
    return [r for key in keys for r in done[key]]


def _run_point(point: SweepPoint, key: str, built: dict, images: Tensor | Sequence[Tensor], common: dict, batch: int,
               fh) -> list[Record]:
    """Evaluate one point and append it to the open store ``fh`` (one flushed line: a kill loses at most it)."""
    from genjscc.channel.registry import build_channel

    scheme_key = (point.scheme, point.options)
    records = evaluate(built[scheme_key], images, build_channel(point.channel, point.csi), [point.snr_db],
                       data=common["data"], metrics=common["metrics"], batch_size=batch, seed=common["seed"])
    fh.write(json.dumps({"key": key, "records": [asdict(r) for r in records]}) + "\n")
    fh.flush()
    os.fsync(fh.fileno())
    return records
