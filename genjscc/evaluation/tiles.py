"""Tiles of a comparison grid (:func:`genjscc.evaluation.plots.comparison_grid`): test images sent through a scheme
at one SNR, with the caption ``genjscc grid`` and ``genjscc demo`` write under them."""

from __future__ import annotations

import torch

from genjscc.evaluation.evaluate import transmit_checked
from genjscc.metrics import lpips_alex, psnr

__all__ = ["grid_tile"]


def grid_tile(scheme, images, channel, snr_db: float, seed: int):
    """One tile of a comparison grid: (reconstructions, caption "PSNR dB / LPIPS x").

    ``images``: ``[n, 3, S, S]`` in [0, 1], sent as one batch; or a sequence of ``[3, H_i, W_i]`` (whole images of
    different sizes), sent one at a time, in order, with one generator. The channel generator is seeded with
    ``seed``. The caption holds the mean over the images of each image's PSNR and LPIPS-AlexNet (PSNR alone for
    images below LPIPS' 31 pixels)."""
    g = torch.Generator(device=scheme.device).manual_seed(seed)
    stacked = hasattr(images, "dim")
    batches = [images] if stacked else [image.unsqueeze(0) for image in images]
    outputs = [transmit_checked(scheme, x.to(scheme.device), channel, snr_db, generator=g).images for x in batches]
    with torch.no_grad():
        pairs = [(out, x.to(out.device)) for out, x in zip(outputs, batches)]
        caption = f"{torch.cat([psnr(out, x) for out, x in pairs]).mean():.1f} dB"
        try:
            caption += f" / LPIPS {torch.cat([lpips_alex(out, x) for out, x in pairs]).mean():.3f}"
        except ValueError:  # images below LPIPS' smallest size (31 pixels): PSNR alone
            pass
    tile = outputs[0].cpu() if stacked else [out[0].cpu() for out in outputs]
    return tile, caption
