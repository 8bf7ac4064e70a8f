"""A page request, checked: the JSON the page posts -> a :class:`Form`, then the job's work.

The request (``POST /api/jobs``)::

    {"task": "transmit" | "curve",
     "image": {"photo": "chelsea"} | {"upload": {"name": "cat.png", "data": "<base64 of the file>"}},
     "size": 64 | "native", "schemes": [{"spec": "deepjscc-64-bcr1_12", "options": {}}, ...],
     "channel": "awgn", "csi": "mmse", "snr": 5, "seed": 0,
     "curve": {"from": -5, "to": 10, "step": 5, "metric": "psnr"}}      # task "curve" only

Every field is checked here and a mistake is a ``ValueError`` whose message names the field
and what it may be; the image is read (and refused) before anything is queued.
"""

from __future__ import annotations

import base64
import binascii
import math
from dataclasses import dataclass

from genjscc.app.choices import CSI_MODES, SIZES, channel_names, checked_scheme_request, scheme_choices
from genjscc.app.jobs import Job
from genjscc.app.work import PreparedImage, SchemeCache, draw_curve, prepare_photo, prepare_upload, send_image

__all__ = ["Form", "read_form", "prepare_image", "transmit_work", "curve_work", "CURVE_METRICS", "MAX_SCHEMES",
           "MAX_CURVE_POINTS"]

CURVE_METRICS = ("psnr", "ms-ssim", "lpips-alex")
MAX_SCHEMES = 12
MAX_CURVE_POINTS = 41


@dataclass(frozen=True)
class Form:
    task: str
    image: dict
    size: int | str  # S (S x S centre crop) or "native" (the whole image)
    schemes: tuple[tuple[str, dict], ...]  # (spec, options) as build_scheme takes them
    channel: str
    csi: str
    snr_db: float
    seed: int
    curve_snrs: tuple[float, ...] = ()
    curve_metric: str = "psnr"


def _number(request: dict, name: str, default=None) -> float:
    value = request.get(name, default)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return number


def _curve_snrs(curve: dict) -> tuple[float, ...]:
    low, high, step = _number(curve, "from", -5), _number(curve, "to", 10), _number(curve, "step", 5)
    if step <= 0 or high < low:
        raise ValueError(f"curve SNRs: give from <= to and a positive step (got from {low:g}, to {high:g}, step {step:g})")
    count = int(math.floor((high - low) / step + 1e-9)) + 1
    if count > MAX_CURVE_POINTS:
        raise ValueError(f"curve SNRs: {count} points, more than {MAX_CURVE_POINTS}; use a larger step")
    return tuple(round(low + i * step, 6) for i in range(count))


def read_form(request) -> Form:
    """The page's JSON request checked field by field (see the module docstring)."""
    from genjscc.channel import snr_tensor

    if not isinstance(request, dict):
        raise ValueError("the request must be a JSON object")
    task = request.get("task", "transmit")
    if task not in ("transmit", "curve"):
        raise ValueError(f"task must be transmit or curve, got {task!r}")
    size = request.get("size", 64)
    if isinstance(size, bool) or size not in SIZES:
        raise ValueError(f"size must be one of {', '.join(map(str, SIZES))} (native: the whole image at its own "
                         f"size), got {size!r}")
    entries = request.get("schemes") or []
    if not isinstance(entries, list) or not entries:
        raise ValueError("choose at least one scheme")
    if len(entries) > MAX_SCHEMES:
        raise ValueError(f"choose at most {MAX_SCHEMES} schemes at once, got {len(entries)}")
    choices = scheme_choices()
    schemes = tuple(checked_scheme_request(e, choices) for e in entries)
    channel, csi = request.get("channel", "awgn"), request.get("csi", "mmse")
    if channel not in channel_names():
        raise ValueError(f"channel must be one of {', '.join(channel_names())}, got {channel!r}")
    if csi not in CSI_MODES:
        raise ValueError(f"csi must be one of {', '.join(CSI_MODES)}, got {csi!r}")
    snr = _number(request, "snr", 0)
    snr_tensor([snr], 1)  # the CLI's check of an SNR value
    seed = request.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**63:
        raise ValueError(f"seed must be a whole number >= 0, got {seed!r}")
    image = request.get("image")
    if not isinstance(image, dict) or not ({"photo", "upload"} & set(image)):
        raise ValueError("choose a held-out photo or upload an image")
    curve_snrs, metric = (), "psnr"
    if task == "curve":
        curve = request.get("curve") or {}
        if not isinstance(curve, dict):
            raise ValueError("curve must be {from, to, step, metric}")
        curve_snrs = _curve_snrs(curve)
        metric = curve.get("metric", "psnr")
        if metric not in CURVE_METRICS:
            raise ValueError(f"curve metric must be one of {', '.join(CURVE_METRICS)}, got {metric!r}")
    return Form(task, image, size, schemes, channel, csi, snr, seed, curve_snrs, metric)


def prepare_image(form: Form) -> PreparedImage:
    """The form's photo or upload, cropped and resized to ``form.size``, or whole at "native" (a ``DataError`` for a
    bad upload)."""
    if "photo" in form.image:
        return prepare_photo(str(form.image["photo"]), form.size)
    upload = form.image["upload"]
    if not isinstance(upload, dict) or not isinstance(upload.get("data"), str):
        raise ValueError("upload must be {name, data: base64 of the file}")
    try:
        data = base64.b64decode(upload["data"], validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the upload is not valid base64; reload the page and upload the file again") from None
    return prepare_upload(str(upload.get("name") or "upload"), data, form.size)


def _channel(form: Form):
    from genjscc.channel.registry import build_channel

    return build_channel(form.channel, csi=form.csi)


def transmit_work(form: Form, prepared: PreparedImage, cache: SchemeCache):
    """The job: each chosen scheme sends the image; a scheme that cannot (wrong size...) gets an error tile."""

    def work(job: Job) -> dict:
        link, tiles, n = _channel(form), [], len(form.schemes)
        for i, (spec, options) in enumerate(form.schemes):
            job.report(i, n, f"{spec}: loading")
            try:
                scheme = cache.get(spec, options, form.size)
                job.report(i, n, f"{scheme.label}: sending")
                tile = send_image(scheme, prepared, link, form.snr_db, form.seed,
                                  progress=lambda step, steps, label=scheme.label, i=i: job.report(
                                      i, n, f"{label}: ILO step {step}/{steps}"))
            except ValueError as exc:  # a scheme that cannot send this image: its own tile says why
                tile = {"label": spec, "error": str(exc)}
            tiles.append({"spec": spec, "options": options, **tile})
            job.report(i + 1, n, f"{i + 1} of {n} schemes sent")
        return {"tiles": tiles, "channel": link.describe(), "snr": form.snr_db, "seed": form.seed}

    return work


def curve_work(form: Form, prepared: PreparedImage, cache: SchemeCache):
    """The job: every chosen scheme over the curve's SNRs on this image, drawn as `genjscc plot` draws."""

    def work(job: Job) -> dict:
        schemes = []
        for spec, options in form.schemes:
            job.report(0, len(form.schemes) * len(form.curve_snrs), f"{spec}: loading")
            schemes.append(cache.get(spec, options, form.size))
        return draw_curve(schemes, prepared, _channel(form), list(form.curve_snrs), form.seed, form.curve_metric,
                          job.report)

    return work
