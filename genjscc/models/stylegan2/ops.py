"""Low-level StyleGAN2 operations in plain PyTorch: FIR up/down-sampling, equalised-lr layers, modulated convolution.

Every operation is written for clarity first; shapes follow NCHW. Names follow NVlabs' networks so the
state-dict keys of the layers match the official files.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "fir_filter", "upfirdn2d", "upsample2d", "downsample2d", "conv2d_resample", "bias_act",
    "FullyConnectedLayer", "Conv2dLayer", "modulated_conv2d", "SQRT2",
]

SQRT2 = math.sqrt(2.0)


# ----------------------------------------------------------------------------- FIR resampling


def fir_filter(taps=(1, 3, 3, 1), device=None) -> Tensor:
    """Separable low-pass ``[k, k]`` filter, normalised to sum 1."""
    t = torch.as_tensor(taps, dtype=torch.float32, device=device)
    f = torch.outer(t, t)
    return f / f.sum()


def upfirdn2d(x: Tensor, f: Tensor, up: int = 1, down: int = 1, pad=(0, 0, 0, 0), gain: float = 1.0) -> Tensor:
    """Zero-stuff by ``up``, pad ``(left, right, top, bottom)`` (negative crops), filter, keep every ``down``-th pixel."""
    n, c, h, w = x.shape
    if up > 1:  # insert up-1 zeros after every pixel
        x = x.reshape(n, c, h, 1, w, 1)
        x = F.pad(x, [0, up - 1, 0, 0, 0, up - 1]).reshape(n, c, h * up, w * up)
    left, right, top, bottom = pad
    x = F.pad(x, [max(left, 0), max(right, 0), max(top, 0), max(bottom, 0)])
    x = x[:, :, max(-top, 0) : x.shape[2] - max(-bottom, 0), max(-left, 0) : x.shape[3] - max(-right, 0)]
    kernel = (f * gain).flip([0, 1]).to(x.dtype)[None, None].expand(c, 1, *f.shape)
    x = F.conv2d(x, kernel, groups=c)  # true convolution with the filter
    return x[:, :, ::down, ::down] if down > 1 else x


def upsample2d(x: Tensor, f: Tensor, up: int = 2) -> Tensor:
    k = f.shape[-1]
    return upfirdn2d(x, f, up=up, pad=((k + up - 1) // 2, (k - up) // 2) * 2, gain=up * up)


def downsample2d(x: Tensor, f: Tensor, down: int = 2) -> Tensor:
    k = f.shape[-1]
    return upfirdn2d(x, f, down=down, pad=((k - down + 1) // 2, (k - down) // 2) * 2)


def conv2d_resample(x: Tensor, weight: Tensor, f: Tensor, up: int = 1, down: int = 1) -> Tensor:
    """Same-padded convolution with optional 2x FIR upsampling (transposed conv + blur) or downsampling (blur + strided conv)."""
    k = weight.shape[-1]
    fk = f.shape[-1]
    if up == 1 and down == 1:
        return F.conv2d(x, weight, padding=k // 2)
    if down > 1:
        p0 = k // 2 + (fk - down + 1) // 2
        p1 = k // 2 + (fk - down) // 2
        if k == 1:  # blur-downsample first, then the 1x1 convolution
            return F.conv2d(upfirdn2d(x, f, down=down, pad=(p0, p1, p0, p1)), weight)
        return F.conv2d(upfirdn2d(x, f, pad=(p0, p1, p0, p1)), weight, stride=down)
    # up > 1: stride-2 transposed convolution, then the blur with the remaining padding
    p0 = k // 2 + (fk + up - 1) // 2 - (k - 1)
    p1 = k // 2 + (fk - up) // 2 - (k - up)
    x = F.conv_transpose2d(x, weight.transpose(0, 1), stride=up)
    return upfirdn2d(x, f, pad=(p0, p1, p0, p1), gain=up * up)


def bias_act(x: Tensor, bias: Tensor | None, activation: str, gain: float = 1.0, clamp: float | None = None) -> Tensor:
    """Add a per-channel bias, apply ``linear`` or ``lrelu`` (slope 0.2), scale by ``gain``, clamp to ±clamp."""
    if bias is not None:
        x = x + bias.reshape([1, -1] + [1] * (x.dim() - 2)).to(x.dtype)
    if activation == "lrelu":
        x = F.leaky_relu(x, 0.2)
    if gain != 1:
        x = x * gain
    if clamp is not None:
        x = x.clamp(-clamp, clamp)
    return x


# ----------------------------------------------------------------------------- layers


class FullyConnectedLayer(nn.Module):
    def __init__(self, in_features: int, out_features: int, bias: bool = True, activation: str = "linear",
                 lr_multiplier: float = 1.0, bias_init: float = 0.0):
        super().__init__()
        self.activation = activation
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_multiplier)
        self.bias = nn.Parameter(torch.full([out_features], float(bias_init))) if bias else None
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x: Tensor) -> Tensor:
        b = self.bias * self.bias_gain if self.bias is not None else None
        x = F.linear(x, self.weight * self.weight_gain, b)
        return F.leaky_relu(x, 0.2) * SQRT2 if self.activation == "lrelu" else x


class Conv2dLayer(nn.Module):
    """Equalised-lr convolution with optional FIR down-sampling (discriminator)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, bias: bool = True,
                 activation: str = "linear", down: int = 1, conv_clamp: float | None = None):
        super().__init__()
        self.activation, self.down, self.conv_clamp = activation, down, conv_clamp
        self.register_buffer("resample_filter", fir_filter())
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size * kernel_size)
        self.act_gain = SQRT2 if activation == "lrelu" else 1.0

    def forward(self, x: Tensor, gain: float = 1.0) -> Tensor:
        x = conv2d_resample(x, (self.weight * self.weight_gain).to(x.dtype), self.resample_filter, down=self.down)
        clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        return bias_act(x, self.bias, self.activation, self.act_gain * gain, clamp)


def modulated_conv2d(x: Tensor, weight: Tensor, styles: Tensor, f: Tensor | None = None, up: int = 1,
                     demodulate: bool = True, noise: Tensor | None = None) -> Tensor:
    """x [N, I, H, W], weight [O, I, k, k], styles [N, I] -> [N, O, H*up, W*up]."""
    n = x.shape[0]
    x = x * styles.to(x.dtype).reshape(n, -1, 1, 1)
    x = conv2d_resample(x, weight.to(x.dtype), f, up=up) if up > 1 else F.conv2d(x, weight.to(x.dtype), padding=weight.shape[-1] // 2)
    if demodulate:  # scale of each output channel of the per-sample weight w·s
        # sum_{i,k} (w_oik s_i)^2 = sum_i s_i^2 sum_k w_oik^2: no [N, O, I, k, k] tensor needed
        dcoefs = (styles.square() @ weight.square().sum(dim=[2, 3]).t() + 1e-8).rsqrt()  # [N, O]
        x = x * dcoefs.to(x.dtype).reshape(n, -1, 1, 1)
    if noise is not None:
        x = x + noise.to(x.dtype)
    return x
