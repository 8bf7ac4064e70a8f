"""Residual GDN backbones for DeepJSCC, in the style of learned image compression.

Drop-in alternatives to the paper's five-conv stacks (:mod:`genjscc.models.deepjscc`), with the
same interface: ``encoder(x [B, 3, H, W] in [-1, 1], snr_db [B]) -> latent [B, C, H/f, W/f]``
and ``decoder(latent, snr_db [B]) -> images [B, 3, H, W] in [0, 1]``.

Encoder, ``f = 2^n``, stage widths ``w_1..w_n = width / 2^(n-1) .. width`` (at least 16)::

    n x Down: GDN(conv stride 2)  (5x5 on the RGB input, 3x3 after)   [-> AF]
    blocks x ResBlock: x + conv3x3(PReLU(conv3x3(PReLU(x))))          [-> AF]
    conv3x3 -> C

Decoder, the mirror::

    PReLU(conv3x3 C -> width)                                         [-> AF]
    blocks x ResBlock                                                 [-> AF]
    n x Up: IGDN(conv-transpose 4x4 stride 2)  (the last one to 3 channels,
            without IGDN)                                             [-> AF, not after the last]
    sigmoid

Halving the width each time the resolution doubles keeps the stages' costs alike; the residual
blocks, which carry most of the capacity, run at the latent resolution where convolutions are
cheapest. AF is the ADJSCC attention-feature module (channel scaling from pooled features and
the SNR in dB), used when ``snr_adaptive``. GDN/IGDN: :mod:`genjscc.layers.gdn` (Ballé et al.
2016), as in the analysis/synthesis transforms of Ballé et al. 2018; residual blocks as in
Cheng et al. 2020 and DeepJSCC-Q.

Parameters and MACs per image at each width, beside the paper's stacks:
``benchmarks/README.md``, ``backbone_cost.py``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from genjscc.layers.gdn import GDN, IGDN
from genjscc.layers.attention import AttentionFeature

__all__ = ["ResidualGDNEncoder", "ResidualGDNDecoder", "ResidualBlock", "DownBlock", "UpBlock", "SNRConditioned", "stage_widths"]


def stage_widths(downsample: int, width: int) -> list[int]:
    """Widths of the ``log2(downsample)`` encoder stages, finest first: ``width / 2^k`` (at least 16).

    Halving the width each time the resolution doubles keeps every stage's cost similar (and the
    activations of a batch small).
    """
    if downsample not in (2, 4, 8, 16):
        raise ValueError(f"downsample must be 2, 4, 8 or 16, got {downsample}")
    if width < 16:
        raise ValueError(f"width must be >= 16, got {width}")
    n = int(math.log2(downsample))
    return [max(width >> (n - 1 - i), 16) for i in range(n)]


class ResidualBlock(nn.Module):
    """Pre-activation residual block: ``x + conv3x3(PReLU(conv3x3(PReLU(x))))``; ``[B, c, H, W]`` in and out."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.PReLU(channels),
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.PReLU(channels),
            nn.Conv2d(channels, channels, 3, padding=1),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class DownBlock(nn.Module):
    """``[B, c_in, H, W] -> [B, c_out, H/2, W/2]``: ``GDN(conv_k_stride2(x))`` (a Ballé analysis stage)."""

    def __init__(self, c_in: int, c_out: int, kernel_size: int = 3):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel_size, stride=2, padding=kernel_size // 2)
        self.gdn = GDN(c_out)

    def forward(self, x: Tensor) -> Tensor:
        return self.gdn(self.conv(x))


class UpBlock(nn.Module):
    """``[B, c_in, H, W] -> [B, c_out, 2H, 2W]``: ``IGDN(conv_transpose_4x4_stride2(x))``.

    The 4x4 kernel at stride 2 overlaps evenly (no checkerboard); ``last=True`` drops the IGDN
    (the output layer, before the sigmoid).
    """

    def __init__(self, c_in: int, c_out: int, *, last: bool = False):
        super().__init__()
        self.conv = nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1)
        self.igdn = nn.Identity() if last else IGDN(c_out)

    def forward(self, x: Tensor) -> Tensor:
        return self.igdn(self.conv(x))


class SNRConditioned(nn.Module):
    """Runs ``layers`` in order, each followed by an AF module (when ``snr_adaptive``)."""

    def __init__(self, layers: list[nn.Module], widths: list[int | None], snr_adaptive: bool):
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.attention = (
            nn.ModuleList(AttentionFeature(w) if w else nn.Identity() for w in widths) if snr_adaptive else None
        )

    def forward(self, x: Tensor, snr_db: Tensor | None) -> Tensor:
        return self.run(x, snr_db)[0]

    def run(self, x: Tensor, snr_db: Tensor | None, taps: tuple[int, ...] = ()) -> tuple[Tensor, list[Tensor]]:
        """The output (NCHW) and, for each ``t`` in ``taps``, the activation after the first ``t``
        layers (and their AF modules), in the channels-last layout the layers run in."""
        x = x.contiguous(memory_format=torch.channels_last)  # oneDNN convolutions run faster on NHWC
        tapped: dict[int, Tensor] = {}
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if self.attention is not None and isinstance(self.attention[i], AttentionFeature):
                if snr_db is None:
                    raise ValueError("an SNR-adaptive backbone needs snr_db [B]")
                x = self.attention[i](x, snr_db)
            if i + 1 in taps:
                tapped[i + 1] = x
        return x.contiguous(), [tapped[t] for t in taps]  # the output back to NCHW for the caller


class ResidualGDNEncoder(SNRConditioned):
    """Images ``x [B, 3, H, W]`` in [-1, 1], ``snr_db [B]`` -> latent ``[B, channels, H/f, W/f]`` (unnormalised).

    Args:
        channels: C, latent channels (sets the bandwidth ratio ``rho = C / (6 f^2)``).
        downsample: f, total stride: 2, 4, 8 or 16.
        width: channels of the residual blocks and the coarsest stage; stage k of n (finest
            first) has ``max(width / 2^(n-k), 16)``.
        snr_adaptive: AF modules after every stage, conditioned on ``snr_db``.
        blocks: residual blocks at the latent resolution.
    """

    def __init__(self, channels: int, downsample: int, width: int = 128, snr_adaptive: bool = True, blocks: int = 2):
        widths = stage_widths(downsample, width)
        layers: list[nn.Module] = []
        c_in = 3
        for i, w in enumerate(widths):
            layers.append(DownBlock(c_in, w, kernel_size=5 if i == 0 else 3))  # 5x5 on the RGB input is cheap
            c_in = w
        layers += [ResidualBlock(width) for _ in range(blocks)]
        layers.append(nn.Conv2d(width, channels, 3, padding=1))
        super().__init__(layers, [*widths, *[width] * blocks, None], snr_adaptive)
        self.channels, self.downsample = channels, downsample


class ResidualGDNDecoder(SNRConditioned):
    """Latent ``[B, channels, h, w]``, ``snr_db [B]`` -> images ``[B, 3, f h, f w]`` in [0, 1] (sigmoid output).

    Arguments as :class:`ResidualGDNEncoder`; the stage widths are mirrored.
    """

    def __init__(self, channels: int, downsample: int, width: int = 128, snr_adaptive: bool = True, blocks: int = 2):
        widths = stage_widths(downsample, width)[::-1]  # coarsest first
        layers: list[nn.Module] = [nn.Sequential(nn.Conv2d(channels, width, 3, padding=1), nn.PReLU(width))]
        layers += [ResidualBlock(width) for _ in range(blocks)]
        outs = [*widths[1:], 3]
        for i, (c_in, c_out) in enumerate(zip(widths, outs)):
            layers.append(UpBlock(c_in, c_out, last=i == len(widths) - 1))
        super().__init__(layers, [width, *[width] * blocks, *outs[:-1], None], snr_adaptive)
        self.output = nn.Sigmoid()
        self.channels, self.downsample = channels, downsample

    def forward(self, x: Tensor, snr_db: Tensor | None) -> Tensor:
        return self.output(super().forward(x, snr_db))
