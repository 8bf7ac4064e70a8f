"""Latent parametrisations and projections used by the ILO solver.

Gaussian proxy (PULSE, Menon et al. 2020; ILO, Daras et al. 2021). The mapping network ends
in a leaky ReLU of slope 0.2, so ``v = lrelu_0.2^{-1}(w)`` (``w < 0 -> w / 0.2``) is roughly
Gaussian. Fitting a per-dimension mean and std on samples of ``v`` gives

.. math::

    w = \\text{lrelu}_{0.2}(\\sigma \\odot z + \\mu), \\qquad z \\in \\sqrt{d}\\, S^{d-1},

a latent ``z`` that lives on the sphere of radius ``sqrt(d)`` (where most of the mass of
``N(0, I_d)`` lies), which keeps the optimised ``w`` in the region the mapping network covers.

Projections, all per image (first dimension ``N``):

* :func:`project_sphere`: each latent row rescaled to norm ``sqrt(d)``;
* :func:`normalize_noise`: each noise map to zero mean, unit (population) variance;
* :func:`project_l1_ball`: Euclidean projection onto ``{u : ||u||_1 <= r}`` (sort-based,
  Duchi et al., ICML 2008);
* :func:`geocross`: geodesic cross loss between the rows of a W+ latent.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["GaussianProxy", "gaussian_proxy", "project_sphere", "normalize_noise", "project_l1_ball", "geocross"]

_SLOPE = 0.2  # the mapping network's leaky ReLU
_CACHE_ATTR = "_genjscc_gaussian_proxy"


@dataclass(frozen=True)
class GaussianProxy:
    """``w = lrelu_0.2(std * z + mean)`` for ``z [..., d]``; ``mean, std [d]``."""

    mean: Tensor
    std: Tensor

    def __call__(self, z: Tensor) -> Tensor:
        mean, std = self.mean.to(z.device, z.dtype), self.std.to(z.device, z.dtype)
        return F.leaky_relu(std * z + mean, _SLOPE)


def _fingerprint(mapping: nn.Module) -> tuple:
    # storage and in-place version of every tensor: loading new weights (copy_) changes it
    return tuple((t.data_ptr(), t._version) for t in list(mapping.parameters()) + list(mapping.buffers()))


@torch.no_grad()
def gaussian_proxy(generator: nn.Module, samples: int = 10_000, seed: int = 0, chunk: int = 2_000) -> GaussianProxy:
    """Fit the Gaussian proxy of ``generator.mapping`` (truncation 1) from ``samples`` seeded draws of z.

    The result is cached on the generator (a plain attribute, not a buffer, so state dicts
    are unchanged) and recomputed only when the mapping network's tensors change.
    """
    mapping = generator.mapping
    key = (_fingerprint(mapping), samples, seed)
    cached = getattr(generator, _CACHE_ATTR, None)
    if cached is not None and cached[0] == key:
        return cached[1]
    device = next(mapping.parameters()).device
    rng = torch.Generator().manual_seed(seed)
    total = torch.zeros(generator.w_dim, dtype=torch.float64, device=device)
    total_sq = torch.zeros_like(total)
    for begin in range(0, samples, chunk):
        z = torch.randn(min(chunk, samples - begin), generator.z_dim, generator=rng).to(device)
        w = mapping(z)[:, 0].double()  # all rows are equal at truncation 1
        v = torch.where(w < 0, w / _SLOPE, w)
        total += v.sum(dim=0)
        total_sq += v.square().sum(dim=0)
    mean = total / samples
    std = (total_sq / samples - mean.square()).clamp_min(0).sqrt()
    proxy = GaussianProxy(mean.float(), std.float())
    setattr(generator, _CACHE_ATTR, (key, proxy))
    return proxy


def project_sphere(z: Tensor) -> Tensor:
    """``z [..., d]`` -> each row rescaled to Euclidean norm ``sqrt(d)``."""
    return z * (z.shape[-1] ** 0.5 / z.norm(dim=-1, keepdim=True).clamp_min(1e-12))


def normalize_noise(noise: Tensor) -> Tensor:
    """``noise [N, ...]`` -> per image ``(n - mean) / std`` over all other dims (population std)."""
    dims = tuple(range(1, noise.dim()))
    mean = noise.mean(dim=dims, keepdim=True)
    std = noise.var(dim=dims, keepdim=True, correction=0).sqrt().clamp_min(1e-12)
    return (noise - mean) / std


def project_l1_ball(v: Tensor, radius: float | Tensor) -> Tensor:
    """Euclidean projection of each ``v_n`` (``v [N, ...]``, flattened) onto ``{u : ||u||_1 <= r_n}``.

    ``radius`` is a positive float or ``[N]``. With ``a = |v|`` sorted decreasingly and
    ``c_j = a_1 + ... + a_j``, let ``rho = max{j : a_j > (c_j - r) / j}`` and
    ``theta = (c_rho - r) / rho``; the projection is ``sign(v) * max(|v| - theta, 0)``.
    Vectors already inside the ball are returned unchanged.
    """
    flat = v.flatten(1)
    n, m = flat.shape
    r = torch.as_tensor(radius, dtype=flat.dtype, device=flat.device).expand(n).reshape(n, 1)
    if (r <= 0).any():
        raise ValueError(f"l1-ball radius must be > 0, got {radius}")
    mags = flat.abs()
    desc = mags.sort(dim=1, descending=True).values
    cums = desc.cumsum(dim=1)
    j = torch.arange(1, m + 1, device=flat.device, dtype=flat.dtype)
    # the condition holds exactly for j = 1..rho (a prefix), so counting it gives rho
    rho = (desc * j > cums - r).sum(dim=1, keepdim=True).clamp_min(1)
    theta = ((cums.gather(1, rho - 1) - r) / rho).clamp_min(0)
    projected = flat.sign() * (mags - theta).clamp_min(0)
    inside = mags.sum(dim=1, keepdim=True) <= r
    return torch.where(inside, flat, projected).view_as(v)


def geocross(latents: Tensor) -> Tensor:
    """Geodesic cross loss ``latents [N, k, d]`` -> ``[N]`` (0 when ``k == 1``).

    .. math::

        \\text{geocross} = \\frac{d}{8}\\,\\frac{1}{k^2} \\sum_{i, j} \\theta_{ij}^2, \\qquad
        \\theta_{ij} = 2 \\operatorname{atan2}(\\lVert v_i - v_j \\rVert, \\lVert v_i + v_j \\rVert),

    the angle between rows ``v_i, v_j`` when they have equal norms (as on the proxy sphere);
    the scale ``d / 8`` is PULSE's, so ILO's weight 0.01 keeps its meaning.
    """
    n, k, d = latents.shape
    if k == 1:
        return latents.new_zeros(n)
    a, b = latents.unsqueeze(1), latents.unsqueeze(2)
    # +1e-9 inside the roots: equal rows (distance 0) would otherwise give an infinite gradient
    diff = ((a - b).square().sum(-1) + 1e-9).sqrt()
    summ = ((a + b).square().sum(-1) + 1e-9).sqrt()
    theta = 2 * torch.atan2(diff, summ)
    return theta.square().mean(dim=(1, 2)) * d / 8
