"""The page's work: prepare the user's image, send it through schemes, score it, draw a curve.

Talks to schemes and channels only (:func:`genjscc.schemes.build_scheme`, the checked
:func:`genjscc.evaluation.evaluate.transmit_checked`), as ``genjscc transmit`` does: a reconstruction shown here is the
one ``genjscc transmit MODEL original.png --snr S --seed N`` writes for the same image, and its
PSNR the one that command prints. Images are ``[3, S, S]`` float in [0, 1] with 8-bit values, so
the original the page shows (a PNG) is exactly what was sent.
"""

from __future__ import annotations

import base64
import math
import tempfile
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from torch import Tensor

__all__ = ["Cancelled", "PreparedImage", "prepare_upload", "prepare_photo", "SchemeCache", "send_image", "draw_curve",
           "data_url", "warm_up"]

Progress = Callable[[int, int, str], None]  # (steps done, steps in all, what is running); may raise Cancelled


class Cancelled(Exception):
    """The user cancelled the request; raised from a progress callback to stop the work."""


@dataclass
class PreparedImage:
    image: Tensor  # [3, S, S] (or [3, H, W] at native size) in [0, 1], multiples of 1/255
    source: str  # held-out photo name or the uploaded file's name
    notes: list[str] = field(default_factory=list)  # what was done to it, in words


def data_url(image: Tensor) -> str:
    """``[3, H, W]`` in [0, 1] as a ``data:image/png;base64,...`` URL (8 bits, values rounded)."""
    from genjscc.utils.images import encode_image

    return "data:image/png;base64," + base64.b64encode(encode_image(image, "PNG")).decode("ascii")


def _square(image: Tensor, size: int, source: str, notes: list[str]) -> PreparedImage:
    """Centre square of ``image [3, H, W]`` resized to ``size``, rounded to 8 bits; notes say what changed."""
    from genjscc.data.transforms import centre_square

    h, w = image.shape[-2:]
    side = min(h, w)
    if h != w:
        notes.append(f"centre-cropped {w}x{h} to {side}x{side}")
    if side != size:
        notes.append(f"resized {side}x{side} to {size}x{size} (antialiased bilinear)")
    square = centre_square(image, size)
    return PreparedImage((square * 255).round() / 255, source, notes)


def _whole(image: Tensor, source: str, notes: list[str]) -> PreparedImage:
    """``image [3, H, W]`` (uint8, or float in [0, 1]) whole at its own size, rounded to 8 bits; ``DataError`` over
    :data:`~genjscc.app.choices.NATIVE_MAX_PIXELS`."""
    from genjscc.app.choices import NATIVE_MAX_PIXELS
    from genjscc.utils.images import DataError

    h, w = image.shape[-2:]
    if h * w > NATIVE_MAX_PIXELS:
        raise DataError(f"{source} is {w}x{h} = {h * w:,} pixels; the page sends whole images of up to "
                        f"{NATIVE_MAX_PIXELS:,} pixels (2048x2048): choose a square size, or send it whole with "
                        "genjscc transmit")
    notes.append(f"sent whole at its own size, {w}x{h} (not cropped or resized)")
    x = image.float() / 255 if image.dtype == torch.uint8 else (image.clamp(0, 1) * 255).round() / 255
    return PreparedImage(x, source, notes)


def _prepared(image: Tensor, size, source: str, notes: list[str]) -> PreparedImage:
    """The image as the page sends it at ``size``: an S x S centre square, or whole for ``"native"``."""
    from genjscc.app.choices import NATIVE

    return _whole(image, source, notes) if size == NATIVE else _square(image, size, source, notes)


def prepare_photo(name: str, size) -> PreparedImage:
    """A held-out photo (``chelsea``, ``coffee``, ``flower``) as the page sends it at ``size`` (S, or ``"native"``)."""
    from genjscc.app.choices import photo_names
    from genjscc.data import photo_images

    names = photo_names()
    if name not in names:
        raise ValueError(f"no held-out photo {name!r}; choose one of {', '.join(names)}")
    photo = photo_images("test")[names.index(name)]
    return _prepared(photo, size, name, [f"held-out photo {name} ({photo.shape[-1]}x{photo.shape[-2]})"])


def prepare_upload(filename: str, data: bytes, size) -> PreparedImage:
    """An uploaded file read as ``genjscc transmit`` reads an image; errors carry the CLI's messages.

    The file is written under its own base name to a private folder and read with
    :func:`genjscc.utils.images.load_image`, so a ``DataError`` says what the CLI says for a file of
    that name (the folder is taken out of the message). 16-bit, float, grayscale and transparent
    images are converted as the CLI converts them, and the notes say so.
    """
    from genjscc.utils.images import DataError, load_image, open_image

    name = upload_name(filename)
    with tempfile.TemporaryDirectory(prefix="genjscc-app-") as folder:
        path = Path(folder) / name
        path.write_bytes(data)
        try:
            with open_image(path) as im:
                mode, (w, h), info = im.mode, im.size, dict(im.info)
            image = load_image(path)
        except DataError as exc:
            raise DataError(str(exc).replace(str(path), name)) from None
    if size != "native" and min(w, h) < size:
        raise DataError(f"image {name} is {w}x{h}, smaller than the {size}x{size} the models take; "
                        "upload a larger image or choose a smaller size")
    notes = [f"uploaded {name} ({w}x{h}, mode {mode})"]
    if mode.startswith("I") or mode == "F":
        notes.append(f"{'16-bit' if mode.startswith('I;16') or mode == 'I' else 'float'} grayscale scaled to 8 bits, "
                     "repeated to RGB")
    elif mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in info):
        notes.append("transparent pixels composited on white")
    elif mode in ("L", "1"):
        notes.append("grayscale repeated to RGB")
    return _prepared(image, size, name, notes)


def upload_name(filename: str) -> str:
    """The base name of an uploaded file's name, safe to create in a private folder (``upload`` if none)."""
    name = Path(str(filename).replace("\\", "/").replace("\0", "")).name.strip()
    if name in ("", ".", ".."):
        return "upload"
    stem, dot, suffix = name.rpartition(".")
    if len(name) > 120:  # file systems refuse names over 255 bytes; keep the suffix Pillow may need
        name = (stem[:100] + dot + suffix[:15]) if dot else name[:120]
    return name


class SchemeCache:
    """Schemes built once per (spec, options, size) and kept (least recently used dropped first).

    Not thread-safe: one worker thread uses it (schemes keep per-call state such as InverseJSCC's
    ``progress`` callback and call counter, so two requests must not share a scheme at the same time).
    """

    def __init__(self, keep: int = 8):
        self.keep = keep
        self._built: OrderedDict[tuple, object] = OrderedDict()

    def get(self, spec: str, options: dict[str, str], size: int):
        """The scheme, built with its options (``ValueError`` if it cannot be built); separation's fallback is the
        photos' training mean at the size of the image it sends (its builder's default)."""
        from genjscc.schemes import build_scheme

        key = (spec, tuple(sorted(options.items())), size)
        if key not in self._built:
            try:
                self._built[key] = build_scheme(spec, **options)
            except (FileNotFoundError, TypeError) as exc:  # as `genjscc transmit` reports them
                raise ValueError(str(exc)) from None
            while len(self._built) > self.keep:
                self._built.popitem(last=False)
        self._built.move_to_end(key)
        return self._built[key]


def _scores(recon: Tensor, target: Tensor) -> dict[str, float | None]:
    """PSNR (dB), MS-SSIM (None when the image is too small for it) and LPIPS-AlexNet of one image pair."""
    from genjscc.metrics import lpips_alex, ms_ssim, ms_ssim_setting, psnr

    x, y = recon.unsqueeze(0), target.unsqueeze(0)
    with torch.no_grad():
        return {
            "psnr": psnr(x, y).item(),
            "ms_ssim": ms_ssim(x, y).item() if ms_ssim_setting(min(x.shape[-2:])) is not None else None,
            "lpips": lpips_alex(x, y).item(),
        }


def send_image(scheme, prepared: PreparedImage, channel, snr_db: float, seed: int,
               progress: Callable[[int, int], None] | None = None) -> dict:
    """One reconstruction, as ``genjscc transmit`` makes it, with its scores and channel uses.

    ``progress(done, total)`` is handed to schemes that report steps (InverseJSCC's solver).
    """
    from genjscc.evaluation.evaluate import transmit_checked

    x = prepared.image.unsqueeze(0)
    h, w = x.shape[-2:]
    scheme.check_size(h, w)
    if hasattr(scheme, "progress"):
        scheme.progress = progress or False
    started = time.perf_counter()
    g = torch.Generator(device=scheme.device).manual_seed(seed)
    sent = transmit_checked(scheme, x.to(scheme.device), channel, snr_db, generator=g)
    y = sent.images.cpu()
    seconds = time.perf_counter() - started
    bcr = scheme.bcr(h, w)
    stages = [{"label": label, "kind": stage.kind, "image": data_url(stage.images[0].cpu()),
               **_scores(stage.images[0].cpu(), prepared.image)}
              for label, stage in sent.stages.items()]
    return {
        "label": scheme.label, "kind": scheme.kind, "image": data_url(y[0]), **_scores(y[0], prepared.image),
        "bcr": str(bcr) if bcr is not None else None,
        "channel_uses": math.floor(bcr * 3 * h * w) if bcr is not None else None,
        "seconds": seconds, "stages": stages,
    }


def draw_curve(schemes: list, prepared: PreparedImage, channel, snrs_db: list[float], seed: int, metric: str,
               progress: Progress) -> dict:
    """The schemes over ``snrs_db`` on this one image, drawn by :func:`genjscc.evaluation.plots.plot_records`.

    Noise is seeded as ``genjscc evaluate`` seeds it, so the points are what that command
    reports for a folder holding only this image. Returns the figure as a PNG data URL and the
    records as CSV text (the format ``genjscc plot`` reads).
    """
    from genjscc.evaluation.evaluate import evaluate
    from genjscc.evaluation.plots import plot_records
    from genjscc.evaluation.records import check_consistent, records_to_csv

    metrics = ["psnr", "ms-ssim", "lpips-alex"]
    total, records = len(schemes) * len(snrs_db), []
    for i, scheme in enumerate(schemes):
        points = {"done": i * len(snrs_db)}  # points finished so far, shared with the callbacks below
        progress(points["done"], total, scheme.label)

        def point_done(snr: float, done: int, of: int, label=scheme.label) -> None:
            points["done"] += 1
            progress(points["done"], total, f"{label} at {snr:g} dB")

        if hasattr(scheme, "progress"):  # solver steps: progress within a point, and a chance to cancel
            scheme.progress = lambda step, steps, label=scheme.label: progress(
                points["done"], total, f"{label}: ILO step {step}/{steps}")

        records += evaluate(scheme, prepared.image.unsqueeze(0), channel, snrs_db, data=prepared.source,
                            metrics=metrics, batch_size=1, seed=seed, progress=point_done)
    # InverseJSCC also records its DeepJSCC stage; when that DeepJSCC is chosen too, its points are the
    # same numbers (evaluate seeds the noise by SNR and batch alone): keep one line, not two on top of each other
    records = check_consistent(records)
    with tempfile.TemporaryDirectory(prefix="genjscc-app-") as folder:
        path = plot_records(records, Path(folder) / "curve.png", metric=metric,
                            title=f"{prepared.source}, {channel.describe()}, seed {seed}")
        png = path.read_bytes()
    return {"image": "data:image/png;base64," + base64.b64encode(png).decode("ascii"), "csv": records_to_csv(records),
            "metric": metric}


def warm_up(cache: SchemeCache, spec: str, size: int = 64) -> dict:
    """Load ``spec`` and the metrics' networks by sending one held-out photo, so the first request is quick."""
    from genjscc.app.choices import photo_names
    from genjscc.channel.registry import build_channel

    return send_image(cache.get(spec, {}, size), prepare_photo(photo_names()[0], size), build_channel("awgn"), 0.0, 0)
