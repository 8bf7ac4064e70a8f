"""Exponential moving average of a network's weights (the StyleGAN2 "G_ema").

After every step ``p_ema <- p + beta (p_ema - p)`` (``lerp``), fused over all parameters with
``torch._foreach_lerp_`` (one kernel launch per group instead of one per tensor); buffers are
copied. ``beta`` comes from a half-life in images: ``beta = 0.5 ** (batch / half_life)``, with
the half-life ramped up to ``rampup x images seen`` early in training (as NVlabs do).
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["EMA", "ema_beta"]


def ema_beta(batch: int, images_seen: int, half_life_images: float, rampup: float | None = 0.05) -> float:
    """Decay per step for a half-life of ``half_life_images`` (ramped: at most ``rampup * images_seen``)."""
    half_life = half_life_images
    if rampup:
        half_life = min(half_life, images_seen * rampup)
    return 0.5 ** (batch / max(half_life, 1e-8))


class EMA:
    """Keeps ``target``'s parameters as the EMA of ``source``'s (same architecture)."""

    def __init__(self, source: nn.Module, target: nn.Module):
        self.source, self.target = source, target

    @torch.no_grad()
    def update(self, beta: float) -> None:
        ema = [p for p in self.target.parameters()]
        live = [p.detach() for p in self.source.parameters()]
        # p_ema = p_ema + (1 - beta) (p - p_ema)  ==  p.lerp(p_ema, beta)
        torch._foreach_lerp_(ema, live, 1.0 - beta)
        for b_ema, b in zip(self.target.buffers(), self.source.buffers()):
            b_ema.copy_(b)
