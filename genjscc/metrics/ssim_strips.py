"""SSIM and MS-SSIM of large images in row strips: torchmetrics' definitions in bounded memory.

torchmetrics (1.x) computes SSIM on whole images at once: about 390 bytes per pixel (4.7 GB for
one 4000 x 3000 pair). Here each image is reflect-padded once (5 pixels, the radius of the
Gaussian window: sigma 1.5, 11 taps), then the window runs over strips of output rows, each read
with its 10 rows of context, and the strips' sums are added in float64: about
:data:`STRIP_PIXELS` pixels of maps at a time. Every map value is torchmetrics' formula on the same
inputs, so the results agree with torchmetrics to float rounding (relative 1e-6; the sums are
ordered differently): SSIM is the mean of the full H x W map, the contrast term of MS-SSIM the
mean of the map less 5 pixels at each border, each clipped at 0 ("relu"), as torchmetrics does.
:func:`genjscc.metrics.quality.ssim` and :func:`~genjscc.metrics.quality.ms_ssim` use this for
images of more than :data:`LARGE_IMAGE_PIXELS` pixels.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["LARGE_IMAGE_PIXELS", "STRIP_PIXELS", "ssim_in_strips", "ms_ssim_in_strips"]

LARGE_IMAGE_PIXELS = 2**22  # images above this (e.g. 2048 x 2048) are measured in strips
STRIP_PIXELS = 2**20  # output pixels per strip
SIGMA, TAPS = 1.5, 11  # torchmetrics' Gaussian window: int(3.5 sigma + 0.5) * 2 + 1 taps
PAD = (TAPS - 1) // 2
K1, K2 = 0.01, 0.03  # SSIM constants, data range 1


def _window(channels: int, dtype: torch.dtype, device) -> Tensor:
    """The Gaussian window ``[C, 1, 11, 11]`` as torchmetrics builds it (outer product of the normalised 1-D one)."""
    dist = torch.arange(start=(1 - TAPS) / 2, end=(1 + TAPS) / 2, step=1, dtype=dtype, device=device)
    gauss = torch.exp(-torch.pow(dist / SIGMA, 2) / 2)
    line = (gauss / gauss.sum()).unsqueeze(0)
    return torch.matmul(line.t(), line).expand(channels, 1, TAPS, TAPS)


def _strip_maps(p: Tensor, t: Tensor, window: Tensor) -> tuple[Tensor, Tensor]:
    """SSIM and contrast maps ``[1, C, R, W]`` of padded strips ``p, t [1, C, R + 10, W + 10]`` (torchmetrics' formula)."""
    c1, c2 = K1**2, K2**2
    stacked = torch.cat((p, t, p * p, t * t, p * t))
    mu_p, mu_t, pp, tt, pt = F.conv2d(stacked, window, groups=p.shape[1]).split(1)
    mu_p_sq, mu_t_sq, mu_pt = mu_p.pow(2), mu_t.pow(2), mu_p * mu_t
    sigma_p_sq = torch.clamp(pp - mu_p_sq, min=0.0)
    sigma_t_sq = torch.clamp(tt - mu_t_sq, min=0.0)
    upper = 2 * (pt - mu_pt) + c2
    lower = (sigma_p_sq + sigma_t_sq) + c2
    return ((2 * mu_pt + c1) * upper) / ((mu_p_sq + mu_t_sq + c1) * lower), upper / lower


def _sim_and_contrast(x: Tensor, y: Tensor) -> tuple[float, float]:
    """Mean SSIM over the H x W map and mean contrast term over the map less ``PAD`` at each border, of one
    image pair ``[1, C, H, W]``, strip by strip."""
    height, width = x.shape[-2:]
    window = _window(x.shape[1], x.dtype, x.device)
    px = F.pad(x, (PAD, PAD, PAD, PAD), mode="reflect")
    py = F.pad(y, (PAD, PAD, PAD, PAD), mode="reflect")
    rows = max(1, STRIP_PIXELS // width)
    sim_sum = cs_sum = 0.0
    for top in range(0, height, rows):
        bottom = min(top + rows, height)
        sim, cs = _strip_maps(px[..., top : bottom + 2 * PAD, :], py[..., top : bottom + 2 * PAD, :], window)
        sim_sum += sim.double().sum().item()
        first, last = max(top, PAD), min(bottom, height - PAD)  # rows of the contrast crop within this strip
        if first < last:
            cs_sum += cs[..., first - top : last - top, PAD : width - PAD].double().sum().item()
    channels = x.shape[1]
    return sim_sum / (channels * height * width), cs_sum / (channels * (height - 2 * PAD) * (width - 2 * PAD))


def ssim_in_strips(x: Tensor, y: Tensor) -> Tensor:
    """SSIM per image of ``x, y [N, C, H, W]`` in [0, 1] (Gaussian window 11, sigma 1.5, data range 1) -> ``[N]``."""
    return torch.tensor([_sim_and_contrast(a.unsqueeze(0).float(), b.unsqueeze(0).float())[0]
                         for a, b in zip(x, y)], dtype=torch.float32)


def ms_ssim_in_strips(x: Tensor, y: Tensor, betas: tuple[float, ...]) -> Tensor:
    """MS-SSIM per image of ``x, y [N, C, H, W]`` in [0, 1] over ``len(betas)`` scales (2x2 average pooling between
    them), each term clipped at 0: the contrast terms of the finer scales and the SSIM of the coarsest, raised
    to ``betas`` and multiplied -> ``[N]``."""
    values = []
    for a, b in zip(x, y):
        a, b = a.unsqueeze(0).float(), b.unsqueeze(0).float()
        terms = []
        for scale in range(len(betas)):
            sim, cs = _sim_and_contrast(a, b)
            terms.append(max(sim if scale == len(betas) - 1 else cs, 0.0))
            a, b = F.avg_pool2d(a, (2, 2)), F.avg_pool2d(b, (2, 2))
        stack = torch.tensor(terms, dtype=torch.float32)
        values.append(torch.prod(stack ** torch.tensor(betas, dtype=torch.float32)))
    return torch.stack(values)
