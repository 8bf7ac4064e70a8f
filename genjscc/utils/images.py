"""Image files in and out, and image grids: ``[3, H, W]`` float tensors in [0, 1].

Reading converts any mode Pillow reads to RGB (grayscale is repeated, alpha is composited
on white); writing is atomic (:mod:`genjscc.utils.atomic`). This module imports nothing of the
project but the base utilities.
"""

from __future__ import annotations

import io
import math
import os
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch import Tensor

from genjscc.utils.atomic import atomic_write_bytes

__all__ = ["IMAGE_SUFFIXES", "DataError", "ImageSizeError", "check_image_batch", "load_image", "open_image", "rgb_array", "max_pixels", "save_image", "encode_image", "image_grid", "to_rgb", "uint8_chw", "list_images"]

DEFAULT_MAX_PIXELS = 89_478_485  # Pillow's default guard (about 8,000 x 11,000 pixels)
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".jp2", ".avif"}


class DataError(ValueError):
    """An image or dataset cannot be used as given; the message says why and what to do."""


class ImageSizeError(ValueError):
    """A scheme cannot send images of this size. The message advises evaluation's ``--size side``; a
    command that sends a given image as it is (``transmit``) words its own advice from ``problem``,
    ``side`` and ``alternative``."""

    def __init__(self, problem: str, side: int, alternative: str = ""):
        super().__init__(f"{problem}: use --size {side}{alternative}")
        self.problem, self.side, self.alternative = problem, side, alternative


def check_image_batch(images: Tensor) -> None:
    """Raise ``ValueError`` unless ``images`` is a batch of RGB images ``[B, 3, H, W]``."""
    if images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(f"images must be [B, 3, H, W], got {tuple(images.shape)}")


def max_pixels() -> int:
    """Largest image (pixels) read before a decompression-bomb error: ``$GENJSCC_MAX_PIXELS`` or 89,478,485."""
    text = os.environ.get("GENJSCC_MAX_PIXELS", "")
    try:
        return int(text) if text else DEFAULT_MAX_PIXELS
    except ValueError:
        raise DataError(f"GENJSCC_MAX_PIXELS must be a whole number of pixels, got {text!r}") from None


def open_image(path: str | Path) -> Image.Image:
    """Open an image file (header only) after checking that it exists, is a file and is not a bomb."""
    path = Path(path)
    if path.is_dir():
        raise DataError(f"{path} is a folder, not an image file")
    limit = max_pixels()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            previous, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None  # our own check below
            try:
                im = Image.open(path)
            finally:
                Image.MAX_IMAGE_PIXELS = previous
    except FileNotFoundError:
        raise DataError(f"image file not found: {path}") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise DataError(f"cannot read image {path}: {exc}") from None
    width, height = im.size
    if width * height > limit:
        im.close()
        raise DataError(
            f"image {path} is {width}x{height} = {width * height:,} pixels, more than the limit of {limit:,} "
            "(a guard against decompression bombs); set GENJSCC_MAX_PIXELS to a larger number to read it"
        )
    return im


def load_image(path: str | Path) -> Tensor:
    """Read any image Pillow reads as ``[3, H, W]`` float in [0, 1], with its full range.

    8-bit modes are divided by 255, 16-bit ones (``I;16``, 16-bit PNG as ``I``) by 65535,
    32-bit integers by 2^32 - 1, float images (``F``) are taken as [0, 1]; grayscale is
    repeated, CMYK/YCbCr/palette converted, transparency composited on white.
    """
    path = Path(path)
    with open_image(path) as im:
        try:
            array = rgb_array(im)
        except (OSError, SyntaxError, ValueError, EOFError) as exc:  # truncated or corrupt pixel data
            raise DataError(f"cannot read image {path}: {exc}") from None
    return torch.from_numpy(array).permute(2, 0, 1).contiguous()


def rgb_array(im: Image.Image) -> np.ndarray:
    """``im`` as float32 ``[H, W, 3]`` in [0, 1] (see :func:`load_image` for the conversions)."""
    mode = im.mode
    if mode.startswith("I;16") or mode in ("I", "F"):
        gray = np.asarray(im).astype(np.float64)
        if mode == "F":
            if gray.size and (np.nanmin(gray) < -1e-6 or np.nanmax(gray) > 1 + 1e-6):
                raise ValueError(f"float image values span [{np.nanmin(gray):g}, {np.nanmax(gray):g}], expected [0, 1]")
            scaled = gray
        elif mode == "I" and gray.size and (gray.min() < 0 or gray.max() > 65535):
            scaled = (gray - gray.min()) / 4294967295.0 if gray.min() < 0 else gray / 4294967295.0
        else:
            scaled = gray / 65535.0
        scaled = np.nan_to_num(scaled, nan=0.0).clip(0, 1).astype(np.float32)
        return np.repeat(scaled[:, :, None], 3, axis=2)
    return np.asarray(to_rgb(im), dtype=np.float32) / 255.0


def save_image(image: Tensor, path: str | Path) -> None:
    """Write ``[3, H, W]`` in [0, 1] to ``path`` (format from the suffix), atomically."""
    if image.dim() != 3 or image.shape[0] != 3:
        raise ValueError(f"save_image expects [3, H, W], got {tuple(image.shape)}")
    path = Path(path)
    fmt = Image.registered_extensions().get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"unknown image format for {path}; use .png or .jpg")
    atomic_write_bytes(path, encode_image(image, fmt))


def encode_image(image: Tensor, fmt: str = "PNG") -> bytes:
    """``[3, H, W]`` in [0, 1] as the bytes of an 8-bit file in Pillow format ``fmt`` (values rounded to /255)."""
    if image.dim() != 3 or image.shape[0] != 3:
        raise ValueError(f"encode_image expects [3, H, W], got {tuple(image.shape)}")
    array = (image.detach().clamp(0, 1) * 255).round().byte().permute(1, 2, 0).cpu().numpy()
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=fmt)
    return buffer.getvalue()


def to_rgb(im: Image.Image) -> Image.Image:
    """An RGB copy of ``im``; transparent pixels are composited on white."""
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        background = Image.new("RGB", im.size, (255, 255, 255))
        rgba = im.convert("RGBA")
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return im.convert("RGB")


def uint8_chw(im: Image.Image) -> Tensor:
    """``im`` as a uint8 tensor ``[3, H, W]`` (16-bit and float images rescaled, see :func:`load_image`)."""
    if im.mode.startswith("I") or im.mode == "F":
        return torch.from_numpy((rgb_array(im) * 255).round().astype(np.uint8)).permute(2, 0, 1).contiguous()
    return torch.from_numpy(np.asarray(to_rgb(im)).copy()).permute(2, 0, 1).contiguous()


def list_images(root: str | Path) -> list[Path]:
    """Every file below ``root`` (recursive, sorted) whose suffix is an image format."""
    return sorted(p for p in Path(root).rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def image_grid(images: Tensor, cols: int | None = None, pad: int = 2) -> Tensor:
    """``[N, 3, H, W]`` in [0, 1] -> one ``[3, H', W']`` grid, row-major, with white gaps of ``pad`` px."""
    n, c, h, w = images.shape
    cols = cols or math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    grid = torch.ones(c, rows * (h + pad) + pad, cols * (w + pad) + pad)
    for i, img in enumerate(images.detach().float().cpu().clamp(0, 1)):
        r, q = divmod(i, cols)
        grid[:, pad + r * (h + pad) : pad + r * (h + pad) + h, pad + q * (w + pad) : pad + q * (w + pad) + w] = img
    return grid
