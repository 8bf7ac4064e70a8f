"""Resizing and cropping of ``[3, H, W]`` images (uint8 or float) to float [0, 1]."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["resize", "centre_square"]


def resize(image: Tensor, height: int, width: int) -> Tensor:
    """Antialiased bilinear resize of ``[3, H, W]`` (uint8 or float) to float [0, 1]."""
    x = image.float().unsqueeze(0)
    if image.dtype == torch.uint8:
        x = x / 255.0
    if x.shape[-2:] != (height, width):
        x = F.interpolate(x, size=(height, width), mode="bilinear", antialias=True, align_corners=False)
    return x.squeeze(0).clamp(0, 1)


def centre_square(image: Tensor, size: int) -> Tensor:
    h, w = image.shape[-2:]
    side = min(h, w)
    y, x = (h - side) // 2, (w - side) // 2
    return resize(image[:, y : y + side, x : x + side], size, size)
