"""Images sampled from a generator with fixed seeds, one ``torch.Generator`` per image.

Image ``i`` is ``(G(z_i, truncation_psi, noise_mode="const") + 1) / 2`` clamped to [0, 1] with
``z_i ~ N(0, I)`` drawn from ``torch.Generator().manual_seed(seeds[i])``, so an image depends on
its seed only (not on the batch it is drawn in) and the caller's RNG is left alone.
"""

from __future__ import annotations

from typing import Iterable

import torch
from torch import Tensor, nn

__all__ = ["DEFAULT_TRUNCATION", "sample_images"]

DEFAULT_TRUNCATION = 0.7  # the truncation of the project's in-range images (``prior:NAME`` data)


@torch.no_grad()
def sample_images(generator: nn.Module, seeds: Iterable[int], truncation_psi: float = DEFAULT_TRUNCATION, *,
                  return_latents: bool = False) -> Tensor | tuple[Tensor, Tensor]:
    """Images ``[len(seeds), 3, R, R]`` in [0, 1], image i from seed ``seeds[i]``, on the generator's device;
    with ``return_latents`` also the truncated latents ``w [len(seeds), w_dim]`` that made them (every w+ row)."""
    device = next(generator.parameters()).device
    z = torch.stack([torch.randn(generator.z_dim, generator=torch.Generator().manual_seed(int(s))) for s in seeds])
    ws = generator.mapping(z.to(device), truncation_psi=truncation_psi)
    images = ((generator.synthesis(ws, noise_mode="const") + 1) / 2).clamp(0, 1)
    return (images, ws[:, 0]) if return_latents else images
