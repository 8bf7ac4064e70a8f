"""Generalized divisive normalization (Ballé, Laparra, Simoncelli 2016) and its inverse.

For a feature map ``x [B, C, H, W]`` and each position, channel ``i``:

.. math::
    \\mathrm{GDN}: \\; y_i = \\frac{x_i}{\\sqrt{\\beta_i + \\sum_j \\gamma_{ij} x_j^2}}, \\qquad
    \\mathrm{IGDN}: \\; y_i = x_i \\sqrt{\\beta_i + \\sum_j \\gamma_{ij} x_j^2}

with ``beta [C] > 0`` and ``gamma [C, C] >= 0``. The sum is a 1x1 convolution of ``x^2``
(weight ``gamma``, bias ``beta``). IGDN is the decoder-side approximate inverse; with the same
parameters it does not invert GDN exactly.

Positivity by reparametrisation: the module stores ``p`` with ``beta = max(p_beta, b_min)^2 - e``
and ``gamma = max(p_gamma, g_min)^2 - e``, pedestal ``e = 2^-36``; the bounds keep
``beta >= beta_min`` (1e-6) and ``gamma >= 0``. The lower bound passes gradients that would
raise a value sitting at the bound, so parameters cannot get stuck there.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["GDN", "IGDN"]

_PEDESTAL = 2.0**-36  # e: keeps sqrt(p^2) differentiable near 0


class _LowerBound(torch.autograd.Function):
    """``max(x, bound)`` whose gradient also flows below the bound when it points upwards."""

    @staticmethod
    def forward(ctx, x: Tensor, bound: float) -> Tensor:
        ctx.save_for_backward(x)
        ctx.bound = bound
        return x.clamp(min=bound)

    @staticmethod
    def backward(ctx, grad: Tensor):
        (x,) = ctx.saved_tensors
        # pass if above the bound, or if descent (-grad) would increase x
        keep = (x >= ctx.bound) | (grad < 0)
        return grad * keep.to(grad.dtype), None


def _nonnegative(p: Tensor, minimum: float) -> Tensor:
    """``max(p, sqrt(minimum + e))^2 - e``: >= minimum, smooth for p above the bound."""
    return _LowerBound.apply(p, (minimum + _PEDESTAL) ** 0.5).square() - _PEDESTAL


class GDN(nn.Module):
    """GDN over channels; ``forward(x [B, C, H, W]) -> [B, C, H, W]`` (IGDN with ``inverse=True``).

    Initialised to ``beta = 1``, ``gamma = gamma_init * I`` (close to the identity for small x).
    """

    def __init__(self, channels: int, *, inverse: bool = False, beta_min: float = 1e-6, gamma_init: float = 0.1):
        super().__init__()
        self.channels, self.inverse, self.beta_min = channels, inverse, beta_min
        self.beta_param = nn.Parameter(torch.sqrt(torch.ones(channels) + _PEDESTAL))
        self.gamma_param = nn.Parameter(torch.sqrt(gamma_init * torch.eye(channels) + _PEDESTAL))

    @property
    def beta(self) -> Tensor:
        """``beta [C]``, >= beta_min."""
        return _nonnegative(self.beta_param, self.beta_min)

    @property
    def gamma(self) -> Tensor:
        """``gamma [C, C]``, >= 0; row i weighs the squared inputs that normalise channel i."""
        return _nonnegative(self.gamma_param, 0.0)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or x.shape[1] != self.channels:
            raise ValueError(f"expected [B, {self.channels}, H, W], got {tuple(x.shape)}")
        norm = F.conv2d(x * x, self.gamma[:, :, None, None], self.beta)  # beta_i + sum_j gamma_ij x_j^2
        return x * (norm.sqrt_() if self.inverse else norm.rsqrt_())  # in place: conv outputs are not saved

    def extra_repr(self) -> str:
        return f"{self.channels}, inverse={self.inverse}"


class IGDN(GDN):
    """Inverse GDN: ``y_i = x_i sqrt(beta_i + sum_j gamma_ij x_j^2)``."""

    def __init__(self, channels: int, *, beta_min: float = 1e-6, gamma_init: float = 0.1):
        super().__init__(channels, inverse=True, beta_min=beta_min, gamma_init=gamma_init)
