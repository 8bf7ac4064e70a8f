"""Image quality metrics that work offline.

:data:`PER_IMAGE_METRICS` maps a metric name to ``f(reconstruction, target) -> [N]`` for
images ``[N, 3, H, W]`` in [0, 1]; evaluation reports every name asked for, and also the
set-level :data:`SET_METRICS` (FID, KID: all reconstructions against all targets). The LPIPS
networks load on first use (one instance per net and device); ``LPIPS``, ``FID`` and
``KID`` are imported on first access, so ``import genjscc.metrics`` stays light.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Callable

from torch import Tensor

from genjscc.metrics.quality import ms_ssim, ms_ssim_db, ms_ssim_setting, psnr, ssim

__all__ = [
    "psnr", "ssim", "ms_ssim", "ms_ssim_db", "ms_ssim_setting", "lpips_alex", "lpips_vgg", "lpips_network", "LPIPS", "FID", "KID",
    "PER_IMAGE_METRICS", "DEFAULT_METRICS", "SET_METRICS",
]

_LAZY = {"LPIPS": "genjscc.metrics.lpips", "FID": "genjscc.metrics.fid", "KID": "genjscc.metrics.fid"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@lru_cache(maxsize=None)
def lpips_network(net: str, device: str):
    """The shared frozen LPIPS network of ``net`` ("alex" | "vgg") on ``device`` (built once per process).

    Built outside inference mode even when first asked for inside it, so the same network also
    serves objectives that need gradients (the ILO solver): inference tensors cannot be saved
    for backward.
    """
    import torch

    from genjscc.metrics.lpips import LPIPS

    with torch.inference_mode(False):
        return LPIPS(net).to(device)


def lpips_alex(x: Tensor, y: Tensor) -> Tensor:
    """LPIPS v0.1 with AlexNet per image (the usual evaluation metric); lower is better."""
    return lpips_network("alex", str(x.device))(x, y)


def lpips_vgg(x: Tensor, y: Tensor) -> Tensor:
    """LPIPS v0.1 with VGG16 per image; lower is better."""
    return lpips_network("vgg", str(x.device))(x, y)


PER_IMAGE_METRICS: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "psnr": psnr,
    "ssim": ssim,
    "ms-ssim": ms_ssim,
    "ms-ssim-db": ms_ssim_db,  # -10 log10(1 - MS-SSIM), per image
    "lpips-alex": lpips_alex,
    "lpips-vgg": lpips_vgg,
}
DEFAULT_METRICS = ("psnr", "ssim", "ms-ssim", "lpips-alex")
SET_METRICS = ("fid", "kid")
"""Metrics of a whole set of reconstructions against all targets (Inception features, slow on CPU)."""
