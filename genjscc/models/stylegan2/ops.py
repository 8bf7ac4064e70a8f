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
    "fir_filter", "upfirdn2d", "upsample2d", "downsample2d", "conv2d_resample",
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
    kernel = (f * gain).flip([0, 1]).to(x.dtype)[None, None].expand(c, 1, *f.shape)
    if left == right >= 0 and top == bottom >= 0:  # the convolution's own zero padding: no padded copy
        return F.conv2d(x, kernel, stride=down, padding=(top, left), groups=c)
    x = F.pad(x, [max(left, 0), max(right, 0), max(top, 0), max(bottom, 0)])
    x = x[:, :, max(-top, 0) : x.shape[2] - max(-bottom, 0), max(-left, 0) : x.shape[3] - max(-right, 0)]
    # true convolution with the filter; keeping every down-th output = the convolution's stride
    return F.conv2d(x, kernel, stride=down, groups=c)


def upsample2d(x: Tensor, f: Tensor, up: int = 2) -> Tensor:
    k = f.shape[-1]
    return upfirdn2d(x, f, up=up, pad=((k + up - 1) // 2, (k - up) // 2) * 2, gain=up * up)


def downsample2d(x: Tensor, f: Tensor, down: int = 2) -> Tensor:
    k = f.shape[-1]
    return upfirdn2d(x, f, down=down, pad=((k - down + 1) // 2, (k - down) // 2) * 2)


def conv2d_resample(x: Tensor, weight: Tensor, f: Tensor, up: int = 1, down: int = 1,
                    bias: Tensor | None = None) -> Tensor:
    """Same-padded convolution with optional 2x FIR upsampling (transposed conv + blur) or downsampling
    (blur + strided conv); ``bias`` [O] is added to the result."""
    k = weight.shape[-1]
    fk = f.shape[-1]
    if up == 1 and down == 1:
        return F.conv2d(x, weight, bias, padding=k // 2)
    if down > 1:
        p0 = k // 2 + (fk - down + 1) // 2
        p1 = k // 2 + (fk - down) // 2
        if k == 1:  # blur-downsample first, then the 1x1 convolution
            return F.conv2d(upfirdn2d(x, f, down=down, pad=(p0, p1, p0, p1)), weight, bias)
        return F.conv2d(upfirdn2d(x, f, pad=(p0, p1, p0, p1)), weight, bias, stride=down)
    # up > 1: stride-2 transposed convolution, then the blur with the remaining padding
    p0 = k // 2 + (fk + up - 1) // 2 - (k - 1)
    p1 = k // 2 + (fk - up) // 2 - (k - up)
    x = F.conv_transpose2d(x, weight.transpose(0, 1), stride=up)
    x = upfirdn2d(x, f, pad=(p0, p1, p0, p1), gain=up * up)
    return x if bias is None else x + bias.reshape(1, -1, 1, 1)


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
        # g·act(conv(x, w) + b) with the (positive) gain g folded into the weight and bias:
        # lrelu(g·(conv + b)) = g·lrelu(conv + b), one pass over the output instead of three
        g = self.act_gain * gain
        w = (self.weight * (self.weight_gain * g)).to(x.dtype)
        b = (self.bias * g).to(x.dtype) if self.bias is not None else None
        x = conv2d_resample(x, w, self.resample_filter, down=self.down, bias=b)
        if self.activation == "lrelu":
            x = F.leaky_relu_(x, 0.2)  # in place on the fresh conv output (its backward needs only the result)
        if self.conv_clamp is not None:
            x = x.clamp(-self.conv_clamp * gain, self.conv_clamp * gain)
        return x


def modulated_conv2d(x: Tensor, weight: Tensor, styles: Tensor, f: Tensor | None = None, up: int = 1,
                     demodulate: bool = True, noise: Tensor | None = None, bias: Tensor | None = None,
                     activation: str = "linear", gain: float = 1.0) -> Tensor:
    """x [N, I, H, W], weight [O, I, k, k], styles [N, I] -> [N, O, H*up, W*up].

    With ``bias``/``activation``/``gain`` it also returns ``gain · act(result + noise + bias)``,
    in one fused epilogue: the positive gain is folded into the demodulation scale, the noise and the bias.
    """
    n = x.shape[0]
    if weight.shape[-1] == 1 and up == 1 and not demodulate and noise is None:
        x = _modulated_1x1(x, weight, styles)
    else:
        x = x * styles.to(x.dtype).reshape(n, -1, 1, 1)
        if up > 1:
            x = conv2d_resample(x, weight.to(x.dtype), f, up=up)
        else:
            x = F.conv2d(x, weight.to(x.dtype), padding=weight.shape[-1] // 2)
    scale = None
    if demodulate:  # scale of each output channel of the per-sample weight w·s
        # sum_{i,k} (w_oik s_i)^2 = sum_i s_i^2 sum_k w_oik^2: no [N, O, I, k, k] tensor needed
        scale = (styles.square() @ weight.square().sum(dim=[2, 3]).t() + 1e-8).rsqrt()  # [N, O]
        scale = (scale * gain if gain != 1 else scale).to(x.dtype).reshape(n, -1, 1, 1)
    elif gain != 1:
        scale = gain
    b = None
    if bias is not None:
        b = (bias * gain if gain != 1 else bias).to(x.dtype).reshape(1, -1, 1, 1)
    if isinstance(scale, Tensor) and b is not None:
        x = torch.addcmul(b, x, scale)  # x·scale + bias in one pass
        b = None
    elif scale is not None:
        x = x * scale
    # from here on x is a fresh tensor that no backward needs: update it in place
    if noise is not None:
        x = x.add_(noise.to(x.dtype) * gain if gain != 1 else noise.to(x.dtype))
    if b is not None:
        x = x.add_(b)
    if activation == "lrelu":
        x = F.leaky_relu_(x, 0.2)
    elif activation != "linear":
        raise ValueError(f"activation must be 'linear' or 'lrelu', got {activation!r}")
    return x


def _modulated_1x1(x: Tensor, weight: Tensor, styles: Tensor) -> Tensor:
    """1x1 modulated convolution as one batched matmul with the per-sample weights w·s [N, O, I]
    (no modulated copy of x, whose backward would cost two more passes over it)."""
    n, i, h, w = x.shape
    wn = (weight[None, :, :, 0, 0] * styles[:, None, :]).to(x.dtype)  # [N, O, I]
    if x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
        y = torch.bmm(x.permute(0, 2, 3, 1).reshape(n, h * w, i), wn.transpose(1, 2))  # [N, HW, O]
        return y.reshape(n, h, w, -1).permute(0, 3, 1, 2)  # channels_last [N, O, H, W]
    return torch.bmm(wn, x.reshape(n, i, h * w)).reshape(n, -1, h, w)
