"""Image files in and out, and image grids: ``[3, H, W]`` float tensors in [0, 1].

Reading converts any mode Pillow reads to RGB (grayscale is repeated, alpha is composited
on white); writing is atomic (:mod:`genjscc.atomic`). This module imports nothing of the
project but the base utilities.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch import Tensor

from genjscc.atomic import atomic_write_bytes

__all__ = ["IMAGE_SUFFIXES", "DataError", "load_image", "save_image", "image_grid", "to_rgb", "uint8_chw", "list_images"]

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".jp2", ".avif"}


class DataError(ValueError):
    """An image or dataset cannot be used as given; the message says why and what to do."""


def load_image(path: str | Path) -> Tensor:
    """Read any image Pillow reads as ``[3, H, W]`` float in [0, 1] (grayscale/alpha -> RGB)."""
    path = Path(path)
    try:
        with Image.open(path) as im:
            array = np.asarray(to_rgb(im))
    except FileNotFoundError:
        raise DataError(f"image file not found: {path}") from None
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise DataError(f"cannot read image {path}: {exc}") from None
    return torch.from_numpy(array.copy()).permute(2, 0, 1).float() / 255.0


def save_image(image: Tensor, path: str | Path) -> None:
    """Write ``[3, H, W]`` in [0, 1] to ``path`` (format from the suffix), atomically."""
    if image.dim() != 3 or image.shape[0] != 3:
        raise ValueError(f"save_image expects [3, H, W], got {tuple(image.shape)}")
    path = Path(path)
    fmt = Image.registered_extensions().get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"unknown image format for {path}; use .png or .jpg")
    array = (image.detach().clamp(0, 1) * 255).round().byte().permute(1, 2, 0).cpu().numpy()
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=fmt)
    atomic_write_bytes(path, buffer.getvalue())


def to_rgb(im: Image.Image) -> Image.Image:
    """An RGB copy of ``im``; transparent pixels are composited on white."""
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        background = Image.new("RGB", im.size, (255, 255, 255))
        rgba = im.convert("RGBA")
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return im.convert("RGB")


def uint8_chw(im: Image.Image) -> Tensor:
    """``im`` as a uint8 tensor ``[3, H, W]``."""
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
