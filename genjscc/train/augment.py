"""DiffAugment (Zhao et al., NeurIPS 2020): differentiable augmentations applied to both the
real and the generated images a discriminator sees, so that it cannot memorise a small set.

Images ``[N, 3, H, W]`` in [-1, 1]; every image draws its own parameters from the global
torch RNG (seeded by the run). Ops:

* ``color``: brightness ``+U(-0.5, 0.5)``, saturation ``x U(0, 2)``, contrast ``x U(0.5, 1.5)``;
* ``translation``: shift by up to 1/8 of the side, the uncovered border filled by reflecting
  the image at its edge (zero filling, as in the paper's code, paints a mid-grey frame in
  [-1, 1] that the shipped 64x64 prior learnt to draw: ``benchmarks/prior_border.py``);
* ``cutout``: a zeroed square of half the side at a random position.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["DiffAugment", "diff_augment", "AUGMENT_OPS"]

AUGMENT_OPS = ("color", "translation", "cutout")


def _color(x: Tensor) -> Tensor:
    n = x.shape[0]
    x = x + (torch.rand(n, 1, 1, 1, device=x.device, dtype=x.dtype) - 0.5)
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * (torch.rand(n, 1, 1, 1, device=x.device, dtype=x.dtype) * 2) + mean
    mean = x.mean(dim=[1, 2, 3], keepdim=True)
    return (x - mean) * (torch.rand(n, 1, 1, 1, device=x.device, dtype=x.dtype) + 0.5) + mean


def _reflect(i: Tensor, n: int) -> Tensor:
    """Indices ``i`` (at most ``n - 1`` outside ``[0, n)``) mirrored into ``[0, n)``: -1 -> 1, n -> n - 2."""
    i = torch.where(i < 0, -i, i)
    return torch.where(i > n - 1, 2 * (n - 1) - i, i)


def _translation(x: Tensor) -> Tensor:
    n, _, h, w = x.shape
    sx, sy = int(w * 0.125 + 0.5), int(h * 0.125 + 0.5)
    dx = torch.randint(-sx, sx + 1, (n, 1, 1), device=x.device)
    dy = torch.randint(-sy, sy + 1, (n, 1, 1), device=x.device)
    gy = _reflect(torch.arange(h, device=x.device).view(1, h, 1) + dy, h).expand(n, h, w)
    gx = _reflect(torch.arange(w, device=x.device).view(1, 1, w) + dx, w).expand(n, h, w)
    idx = (gy * w + gx).reshape(n, 1, h * w).expand(-1, x.shape[1], -1)
    return x.flatten(2).gather(2, idx).view_as(x)


def _cutout(x: Tensor) -> Tensor:
    n, _, h, w = x.shape
    ch, cw = int(h * 0.5 + 0.5), int(w * 0.5 + 0.5)
    oy = torch.randint(0, h + (1 - ch % 2), (n, 1, 1), device=x.device) - ch // 2
    ox = torch.randint(0, w + (1 - cw % 2), (n, 1, 1), device=x.device) - cw // 2
    ys = torch.arange(h, device=x.device).view(1, h, 1)
    xs = torch.arange(w, device=x.device).view(1, 1, w)
    inside = (ys >= oy) & (ys < oy + ch) & (xs >= ox) & (xs < ox + cw)
    return x * (~inside).unsqueeze(1).to(x.dtype)


_OPS = {"color": _color, "translation": _translation, "cutout": _cutout}


def _parse_policy(policy: str) -> tuple[str, ...]:
    ops = tuple(op.strip() for op in policy.split(",") if op.strip())
    unknown = [op for op in ops if op not in _OPS]
    if unknown:
        raise ValueError(f"unknown DiffAugment op(s) {unknown}; use a comma-separated subset of {', '.join(AUGMENT_OPS)}")
    return ops


def diff_augment(x: Tensor, policy: str) -> Tensor:
    """Apply the comma-separated ops of ``policy`` in order to ``x [N, 3, H, W]`` in [-1, 1]."""
    for op in _parse_policy(policy):
        x = _OPS[op](x)
    return x


class DiffAugment(nn.Module):
    """:func:`diff_augment` with a policy checked once at construction (``""``: identity)."""

    def __init__(self, policy: str = "color,translation,cutout"):
        super().__init__()
        self.ops = _parse_policy(policy)

    def forward(self, x: Tensor) -> Tensor:
        for op in self.ops:
            x = _OPS[op](x)
        return x

    def extra_repr(self) -> str:
        return f"policy={','.join(self.ops)!r}"
