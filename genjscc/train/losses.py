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
:class:`StyleGAN2Loss` puts them together as the phases of a training iteration, for the
StyleGAN2 trainer and for GenerativeJSCC's adversarial term.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genjscc.utils.compile import eager_forward

__all__ = ["PerceptualDistortion", "d_logistic_loss", "g_nonsaturating_loss", "r1_penalty", "StyleGAN2Loss",
           "DiscriminatorLoss"]


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


class DiscriminatorLoss(NamedTuple):
    """One discriminator phase: ``total`` (main + R1 when due) to back-propagate, the unweighted R1 penalty
    (None when not due) and the logits ``[N]`` of the reals and fakes, for logging."""

    total: Tensor
    r1: Tensor | None
    real_logits: Tensor
    fake_logits: Tensor


class StyleGAN2Loss:
    """The phases of StyleGAN2 training against a discriminator ``D`` (the shape of NVlabs' ``StyleGAN2Loss``).

    * generator main: ``L_G = mean softplus(-D(A(x̃)))``, with D's parameters frozen, so that the
      gradient reaches the generated images ``x̃`` (and what made them) only;
    * discriminator main: ``L_D = mean softplus(D(A(x̃))) + mean softplus(-D(A(x)))``;
    * R1 regularisation, lazily every ``r1_every`` D steps (:meth:`r1_due`): ``R_1 · gamma / 2 · r1_every``
      on the same real logits, added to ``L_D`` (one backward for both).

    Images ``[N, 3, R, R]`` in D's [-1, 1] convention; ``A`` is ``augment`` (identity when None),
    drawn on the reals before the fakes. ``frozen_features``: D is ``D.logits(D.features(.))`` with
    a frozen feature network (:class:`genjscc.models.projected_discriminator.ProjectedDiscriminator`);
    the D phase runs the features without autograd and R1 penalises the gradient with respect
    to the heads' inputs. The loss holds a reference to ``D``, not a copy, and no state: the
    caller owns the networks, the optimisers and the backward passes.
    """

    def __init__(self, D: nn.Module, *, r1_gamma: float, r1_every: int, augment: Callable[[Tensor], Tensor] | None = None,
                 frozen_features: bool = False):
        if r1_gamma < 0 or r1_every < 0:
            raise ValueError(f"r1_gamma and r1_every must be >= 0, got {r1_gamma} and {r1_every}")
        self.D, self.r1_gamma, self.r1_every, self.frozen_features = D, r1_gamma, r1_every, frozen_features
        self.augment = augment if augment is not None else (lambda images: images)

    def r1_due(self, iteration: int) -> bool:
        """Whether the D phase of ``iteration`` (a host count, 0-based) adds R1."""
        return self.r1_every > 0 and self.r1_gamma > 0 and iteration % self.r1_every == 0

    def generator_main(self, fake: Tensor) -> Tensor:
        """``mean softplus(-D(A(fake)))`` (scalar); D's parameters get no gradient from it."""
        self.D.requires_grad_(False)
        logits = self.D(self.augment(fake))
        self.D.requires_grad_(True)
        return g_nonsaturating_loss(logits)

    def discriminator_main(self, real: Tensor, fake: Tensor, *, regularise: bool) -> DiscriminatorLoss:
        """``L_D`` on detached ``real`` and ``fake`` images, plus the R1 phase when ``regularise``."""
        n = real.shape[0]
        if self.frozen_features:
            with torch.no_grad():
                features = self.D.features(torch.cat([self.augment(real), self.augment(fake)]))
            real_inputs = [f[:n].requires_grad_(regularise) for f in features]
            real_logits = self.D.logits(real_inputs)
            fake_logits = self.D.logits([f[n:] for f in features])
        else:
            real_inputs = [real.detach().requires_grad_(regularise)]
            # the double backward of R1 cannot run through a compiled forward
            real_logits = (eager_forward(self.D) if regularise else self.D)(self.augment(real_inputs[0]))
            fake_logits = self.D(self.augment(fake))
        total = d_logistic_loss(real_logits, fake_logits)
        r1 = None
        if regularise:
            r1 = r1_penalty(real_logits, real_inputs)
            total = total + self.r1_regularisation(r1)
        return DiscriminatorLoss(total, r1, real_logits, fake_logits)

    def r1_regularisation(self, r1: Tensor) -> Tensor:
        """The lazy R1 term ``R_1 · gamma / 2 · r1_every`` of an R1 penalty (:func:`r1_penalty`)."""
        return r1 * (self.r1_gamma / 2) * self.r1_every
