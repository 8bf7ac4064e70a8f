"""Training losses: distortion plus a perceptual term, and the GAN losses of StyleGAN2.

``PerceptualDistortion`` is the objective both generative schemes of the paper optimise:

.. math::

    L(\\hat x, x) = \\lambda_{\\text{mse}} \\cdot \\text{MSE}(\\hat x, x)
                 + \\lambda_{\\text{lpips}} \\cdot \\frac{1}{N} \\sum_n \\text{LPIPS}(\\hat x_n, x_n)

with images in [0, 1] and the MSE averaged over all pixels and channels.

GAN losses (Goodfellow et al. 2014, non-saturating form; R1 of Mescheder et al. 2018), on
discriminator logits ``[N]``:

.. math::

    L_D = \\text{mean}\\,\\text{softplus}(D(\\tilde x)) + \\text{mean}\\,\\text{softplus}(-D(x)), \\qquad
    L_G = \\text{mean}\\,\\text{softplus}(-D(\\tilde x)), \\qquad
    R_1 = \\text{mean}_n \\lVert \\nabla_{x_n} D(x_n) \\rVert^2 .

With lazy regularisation (R1 every ``k`` D steps) the penalty is weighted ``gamma / 2 * k``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["PerceptualDistortion", "d_logistic_loss", "g_nonsaturating_loss", "r1_penalty"]


class PerceptualDistortion(nn.Module):
    """``mse * MSE + lpips * LPIPS-net`` as a scalar; the LPIPS network is frozen.

    Args:
        mse: weight of the mean squared error (images in [0, 1]).
        lpips: weight of the batch-mean LPIPS; 0 builds no network.
        net: LPIPS backbone, ``"vgg"`` (the usual choice for a loss) or ``"alex"``.

    The LPIPS network is not a submodule: checkpoints of a model that holds this loss stay
    small, DDP does not broadcast it, and it moves to the inputs' device on first use.
    ``last`` holds the detached terms of the latest call, for logging.
    """

    def __init__(self, mse: float = 1.0, lpips: float = 0.0, net: str = "vgg"):
        super().__init__()
        if mse < 0 or lpips < 0:
            raise ValueError(f"loss weights must be >= 0, got mse={mse}, lpips={lpips}")
        self.mse_weight, self.lpips_weight, self.net = float(mse), float(lpips), net
        # kept outside the module tree (a plain list): DDP would otherwise broadcast the frozen
        # network's buffers every step; it follows the inputs' device instead
        self._frozen: list = []
        if self.lpips_weight > 0:
            from genjscc.metrics.lpips import LPIPS

            self._frozen.append(LPIPS(net))
        self.last: dict[str, Tensor] = {}

    @property
    def lpips(self):
        """The frozen LPIPS network (None when the LPIPS weight is 0)."""
        return self._frozen[0] if self._frozen else None

    def extra_repr(self) -> str:
        return f"mse={self.mse_weight:g}, lpips={self.lpips_weight:g}, net={self.net!r}"

    def forward(self, reconstruction: Tensor, target: Tensor) -> Tensor:
        """``reconstruction, target [N, 3, H, W]`` in [0, 1] -> scalar loss."""
        if reconstruction.shape != target.shape:
            raise ValueError(f"shapes differ: {tuple(reconstruction.shape)} vs {tuple(target.shape)}")
        mse = torch.mean((reconstruction - target) ** 2)
        loss = self.mse_weight * mse
        self.last = {"mse": mse.detach()}
        if self.lpips is not None:
            if self.lpips.shift.device != reconstruction.device:
                self.lpips.to(reconstruction.device)
            perceptual = self.lpips(reconstruction, target).mean()
            loss = loss + self.lpips_weight * perceptual
            self.last["lpips"] = perceptual.detach()
        return loss


def d_logistic_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """Discriminator loss ``mean softplus(D(fake)) + mean softplus(-D(real))`` (scalar)."""
    return F.softplus(fake_logits).mean() + F.softplus(-real_logits).mean()


def g_nonsaturating_loss(fake_logits: Tensor) -> Tensor:
    """Generator loss ``mean softplus(-D(fake))`` (scalar)."""
    return F.softplus(-fake_logits).mean()


def r1_penalty(real_logits: Tensor, inputs: list[Tensor]) -> Tensor:
    """``mean_n sum ||d D(x_n) / d input||^2`` over ``inputs`` (tensors ``[N, ...]`` that require grad).

    The graph is kept (``create_graph``), so the penalty can be back-propagated into D.
    """
    grads = torch.autograd.grad(real_logits.sum(), inputs, create_graph=True)
    return sum(g.square().flatten(1).sum(dim=1) for g in grads).mean()
