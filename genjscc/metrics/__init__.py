"""Image quality metrics that work offline.

:data:`PER_IMAGE_METRICS` maps a metric name to ``f(reconstruction, target) -> [N]`` for
images ``[N, 3, H, W]`` in [0, 1]; evaluation reports every name asked for.
"""

from __future__ import annotations

from typing import Callable

from torch import Tensor

from genjscc.metrics.quality import ms_ssim, ms_ssim_setting, psnr, ssim

__all__ = ["psnr", "ssim", "ms_ssim", "ms_ssim_setting", "PER_IMAGE_METRICS", "DEFAULT_METRICS"]

PER_IMAGE_METRICS: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "psnr": psnr,
    "ssim": ssim,
    "ms-ssim": ms_ssim,
}
DEFAULT_METRICS = ("psnr", "ssim", "ms-ssim")
