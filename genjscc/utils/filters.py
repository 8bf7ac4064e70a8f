"""Image filters on ``[N, C, H, W]`` tensors that no dependency of the project provides without torchvision."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["gaussian_blur"]


def gaussian_blur(x: Tensor, sigma: Tensor, radius: int) -> Tensor:
    """Separable Gaussian blur of ``x [N, C, H, W]`` with per-image ``sigma [N]`` px (reflect padding).

    Taps ``w_t ∝ exp(-t^2 / (2 sigma^2))``, ``|t| <= radius`` (``radius < min(H, W)``), normalised to
    sum 1; written as elementwise multiply-adds so each image's result does not depend on the batch.
    """
    if radius == 0:
        return x
    height, width = x.shape[-2:]
    if radius >= min(height, width):
        raise ValueError(f"blur radius {radius} px needs images larger than {radius} px (got {height}x{width})")
    taps = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    w = torch.exp(-0.5 * (taps / sigma.to(x.device, x.dtype).clamp(min=1e-3)[:, None]) ** 2)  # [N, T]
    w = (w / w.sum(dim=1, keepdim=True))[:, :, None, None, None]
    # reflect-pad the width by hand (F.pad's reflect is slow along the last dim on CPU)
    xp = torch.cat([x[..., 1 : radius + 1].flip(-1), x, x[..., width - 1 - radius : width - 1].flip(-1)], dim=-1)
    x = xp[..., :width] * w[:, 0]
    for t in range(1, len(taps)):
        x.addcmul_(xp[..., t : t + width], w[:, t])
    xp = torch.cat([x[..., 1 : radius + 1, :].flip(-2), x, x[..., height - 1 - radius : height - 1, :].flip(-2)], dim=-2)
    x = xp[..., :height, :] * w[:, 0]
    for t in range(1, len(taps)):
        x.addcmul_(xp[..., t : t + height, :], w[:, t])
    return x
