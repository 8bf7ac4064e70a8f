"""Per-image distortion metrics on [0, 1] images: PSNR, SSIM, MS-SSIM (via torchmetrics), MS-SSIM in dB.

All functions take ``x, y [N, 3, H, W]`` in [0, 1] and return ``[N]`` float tensors.
torchmetrics (and the scipy it pulls in, about 2 s) is imported when SSIM or MS-SSIM is first
computed, so a PSNR-only caller (``genjscc transmit``) never pays for it. Images of more than
4,194,304 pixels are measured in row strips with the same definitions (:mod:`.ssim_strips`: bounded
memory, equal to torchmetrics' values to float rounding).
"""

from __future__ import annotations

import torch
from torch import Tensor

from genjscc.metrics.ssim_strips import LARGE_IMAGE_PIXELS, ms_ssim_in_strips, ssim_in_strips

__all__ = ["psnr", "ssim", "ms_ssim", "ms_ssim_db", "ms_ssim_setting"]


def _check(x: Tensor, y: Tensor) -> None:
    if x.shape != y.shape or x.dim() != 4:
        raise ValueError(f"metrics need two image batches [N, C, H, W] of equal shape, got {tuple(x.shape)} and {tuple(y.shape)}")


def psnr(x: Tensor, y: Tensor) -> Tensor:
    """``10 log10(1 / MSE)`` per image (peak 1), in dB; MSE floored at 1e-10 (100 dB)."""
    _check(x, y)
    mse = torch.mean((x.float() - y.float()) ** 2, dim=(1, 2, 3))
    return -10.0 * torch.log10(mse.clamp_min(1e-10))


def ssim(x: Tensor, y: Tensor) -> Tensor:
    """SSIM per image: Gaussian window 11, sigma 1.5, data range 1."""
    from torchmetrics.functional.image import structural_similarity_index_measure

    _check(x, y)
    if x.shape[-2] * x.shape[-1] > LARGE_IMAGE_PIXELS:  # torchmetrics would take ~390 bytes a pixel
        return ssim_in_strips(x, y).to(x.device)
    return structural_similarity_index_measure(x.float(), y.float(), data_range=1.0, reduction="none")


def ms_ssim_setting(size: int) -> tuple[int, tuple[float, ...]] | None:
    """(kernel, betas) of MS-SSIM for images of side ``size``; None when too small.

    A setting is taken where torchmetrics can compute it: its checks (``size // (scales - 1)^2 >
    kernel - 1``, ``size >= 2^scales``) and the reflect padding of its Gaussian window (sigma 1.5,
    11 taps at every scale whatever ``kernel`` says) at the coarsest scale (``size >> (scales - 1) >= 6``).
    The standard 5 scales need a side of 176 (11) or 112 (7); smaller images use the first scales of the
    standard weights (renormalised); below 24 pixels there is none.
    """
    standard = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
    for kernel, scales in ((11, 5), (7, 5), (7, 4), (5, 4), (5, 3), (3, 3)):
        if size // max(1, scales - 1) ** 2 > kernel - 1 and size >= 2**scales and size >> (scales - 1) >= 6:
            betas = standard[:scales]
            total = sum(betas)
            return kernel, tuple(b / total for b in betas)
    return None


def ms_ssim(x: Tensor, y: Tensor) -> Tensor:
    """MS-SSIM per image with the kernel/scales of :func:`ms_ssim_setting`."""
    from torchmetrics.functional.image import multiscale_structural_similarity_index_measure

    _check(x, y)
    setting = ms_ssim_setting(min(x.shape[-2:]))
    if setting is None:
        raise ValueError(f"images of {x.shape[-2]}x{x.shape[-1]} are too small for MS-SSIM (need 24 pixels a side)")
    kernel, betas = setting
    if x.shape[-2] * x.shape[-1] > LARGE_IMAGE_PIXELS:
        return ms_ssim_in_strips(x, y, betas).to(x.device)
    return multiscale_structural_similarity_index_measure(
        x.float(), y.float(), data_range=1.0, kernel_size=kernel, betas=betas, reduction="none", normalize="relu"
    )


def ms_ssim_db(x: Tensor, y: Tensor) -> Tensor:
    """MS-SSIM per image in dB, ``-10 log10(1 - MS-SSIM)`` (the field's way of spreading values near 1), from
    :func:`ms_ssim` of each image; ``1 - MS-SSIM`` floored at 1e-10 (100 dB)."""
    return -10.0 * torch.log10((1.0 - ms_ssim(x, y).double()).clamp_min(1e-10)).float()
