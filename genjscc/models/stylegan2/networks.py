"""StyleGAN2 (Karras et al., CVPR 2020) in plain PyTorch: generator, discriminator, FIR resampling.

Parameter and buffer names follow NVlabs' stylegan2-ada-pytorch (``synthesis.b64.conv1.affine.weight``)
so official checkpoints convert with a key map (:mod:`genjscc.models.stylegan2.loaders`).
Low-level operations live in :mod:`genjscc.models.stylegan2.ops`. Conventions:

* images ``[N, 3, R, R]`` in the [-1, 1] convention, never clamped (values may exceed it);
* ``z [N, z_dim]``; ``ws [N, num_ws, w_dim]`` (one w per modulated layer, "W+");
* equalised learning rate: weights are stored N(0, 1)/lr_mul and scaled by lr_mul/sqrt(fan_in)
  at run time, so the stored tensors are those of the official files;
* modulated convolutions modulate the *activations* (x·s, one shared-weight convolution, then
  the demodulation scale), which equals the grouped-convolution form and is faster on CPU.

Inversion hooks: ``G.mapping``, ``G.synthesis(ws, noise_mode=..., start=i, x=features, img=rgb,
stop=j, return_features=True)``, ``G.synthesis.noise_buffers()``, ``G.w_avg``.
"""

from __future__ import annotations

import math
from dataclasses import asdict

import torch
from torch import Tensor, nn

from genjscc.models.configs import DiscriminatorConfig, GeneratorConfig  # noqa: F401  (re-exported)
from genjscc.models.stylegan2.ops import (  # noqa: F401  (re-exported)
    SQRT2,
    Conv2dLayer,
    FullyConnectedLayer,
    conv2d_resample,
    downsample2d,
    fir_filter,
    modulated_conv2d,
    upfirdn2d,
    upsample2d,
)

__all__ = [
    "GeneratorConfig",
    "DiscriminatorConfig",
    "Generator",
    "Discriminator",
    "MappingNetwork",
    "SynthesisNetwork",
    "upfirdn2d",
]


# ----------------------------------------------------------------------------- synthesis


CL = torch.channels_last  # internal feature maps: oneDNN's convolutions are faster in NHWC on CPU


class SynthesisLayer(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, up: int = 1,
                 conv_clamp: float | None = None, kernel_size: int = 3):
        super().__init__()
        self.resolution, self.up, self.conv_clamp = resolution, up, conv_clamp
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.register_buffer("resample_filter", fir_filter())
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.register_buffer("noise_const", torch.randn(resolution, resolution))
        self.noise_strength = nn.Parameter(torch.zeros([]))
        self.bias = nn.Parameter(torch.zeros(out_channels))

    def forward(self, x: Tensor, w: Tensor, noise_mode: str = "const", noise: Tensor | None = None) -> Tensor:
        styles = self.affine(w)
        if noise is None:
            if noise_mode == "random":
                noise = torch.randn(x.shape[0], 1, self.resolution, self.resolution, device=x.device, dtype=x.dtype)
            elif noise_mode == "const":
                noise = self.noise_const
            elif noise_mode != "none":
                raise ValueError(f"noise_mode must be 'const', 'random' or 'none', got {noise_mode!r}")
        noise = noise * self.noise_strength if noise is not None else None
        x = modulated_conv2d(x, self.weight, styles, self.resample_filter, up=self.up, noise=noise,
                             bias=self.bias, activation="lrelu", gain=SQRT2)
        return x.clamp(-self.conv_clamp, self.conv_clamp) if self.conv_clamp is not None else x


class ToRGBLayer(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, w_dim: int, conv_clamp: float | None = None):
        super().__init__()
        self.conv_clamp = conv_clamp
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, 1, 1))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.weight_gain = 1 / math.sqrt(in_channels)

    def forward(self, x: Tensor, w: Tensor) -> Tensor:
        styles = self.affine(w) * self.weight_gain
        x = modulated_conv2d(x, self.weight, styles, demodulate=False)
        x = x + self.bias.to(x.dtype).reshape(1, -1, 1, 1)
        return x.clamp(-self.conv_clamp, self.conv_clamp) if self.conv_clamp is not None else x


class SynthesisBlock(nn.Module):
    """One resolution of the skip generator: (2x up conv0), conv1, toRGB added to the upsampled image."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, img_channels: int,
                 conv_clamp: float | None = None):
        super().__init__()
        self.in_channels, self.resolution = in_channels, resolution
        self.register_buffer("resample_filter", fir_filter())
        if in_channels == 0:
            self.const = nn.Parameter(torch.randn(out_channels, resolution, resolution))
        else:
            self.conv0 = SynthesisLayer(in_channels, out_channels, w_dim, resolution, up=2, conv_clamp=conv_clamp)
        self.conv1 = SynthesisLayer(out_channels, out_channels, w_dim, resolution, conv_clamp=conv_clamp)
        self.torgb = ToRGBLayer(out_channels, img_channels, w_dim, conv_clamp=conv_clamp)
        self.num_conv = 1 if in_channels == 0 else 2
        self.num_torgb = 1

    def layers(self) -> list[SynthesisLayer]:
        return [self.conv1] if self.in_channels == 0 else [self.conv0, self.conv1]

    def forward(self, x: Tensor | None, img: Tensor | None, ws: Tensor, noise_mode: str = "const",
                noises: list | None = None) -> tuple[Tensor, Tensor]:
        """ws [N, num_conv + 1, w_dim]; x [N, in, R/2, R/2] (None for the first block); img [N, 3, R/2, R/2] or None."""
        noises = noises or [None] * self.num_conv
        if self.in_channels == 0:
            x = self.const.unsqueeze(0).expand(ws.shape[0], -1, -1, -1).contiguous(memory_format=CL)
            x = self.conv1(x, ws[:, 0], noise_mode, noises[0])
        else:
            x = self.conv0(x, ws[:, 0], noise_mode, noises[0])
            x = self.conv1(x, ws[:, 1], noise_mode, noises[1])
        if img is not None:
            img = upsample2d(img, self.resample_filter)
        y = self.torgb(x, ws[:, self.num_conv])
        return x, (img + y if img is not None else y)


class SynthesisNetwork(nn.Module):
    def __init__(self, w_dim: int, img_resolution: int, img_channels: int = 3, channel_base: int = 32768,
                 channel_max: int = 512, conv_clamp: float | None = None):
        super().__init__()
        log2 = int(math.log2(img_resolution))
        if img_resolution < 4 or 2**log2 != img_resolution:
            raise ValueError(f"img_resolution must be a power of two >= 4, got {img_resolution}")
        self.w_dim, self.img_resolution, self.img_channels = w_dim, img_resolution, img_channels
        self.block_resolutions = [2**i for i in range(2, log2 + 1)]
        self.channels = {r: min(channel_base // r, channel_max) for r in self.block_resolutions}
        self.num_ws = 0
        for res in self.block_resolutions:
            in_ch = self.channels[res // 2] if res > 4 else 0
            block = SynthesisBlock(in_ch, self.channels[res], w_dim, res, img_channels, conv_clamp)
            setattr(self, f"b{res}", block)
            self.num_ws += block.num_conv
        self.num_ws += 1  # the last block's toRGB

    def blocks(self) -> list[SynthesisBlock]:
        return [getattr(self, f"b{res}") for res in self.block_resolutions]

    def noise_buffers(self) -> list[Tensor]:
        """The ``noise_const`` buffers ``[R, R]`` of every layer, in synthesis order."""
        return [layer.noise_const for block in self.blocks() for layer in block.layers()]

    def block_ws(self, ws: Tensor) -> list[Tensor]:
        """Split ws [N, num_ws, w_dim] into each block's slice (consecutive blocks share the toRGB/conv w)."""
        out, idx = [], 0
        for block in self.blocks():
            out.append(ws[:, idx : idx + block.num_conv + block.num_torgb])
            idx += block.num_conv
        return out

    def forward(self, ws: Tensor, noise_mode: str = "const", noises: list | None = None, start: int = 0,
                x: Tensor | None = None, img: Tensor | None = None, stop: int | None = None,
                return_features: bool = False):
        """Run blocks ``start .. stop-1``; returns the image, or ``(x, img)`` when stopping early.

        ``x``/``img``: the feature map and skip image entering block ``start`` (block 0 starts from its
        constant). ``noises``: optional list of per-layer noise maps (as ``noise_buffers()``).
        ``return_features``: also return the list of every run block's output feature map.
        """
        if ws.dim() != 3 or ws.shape[1] != self.num_ws or ws.shape[2] != self.w_dim:
            raise ValueError(f"ws must be [N, {self.num_ws}, {self.w_dim}], got {list(ws.shape)}")
        blocks = self.blocks()
        stop = len(blocks) if stop is None else stop
        if start > 0 and x is None:
            raise ValueError("starting after the first block needs the feature map x that enters it")
        layer_idx = sum(b.num_conv for b in blocks[:start])
        x = x.contiguous(memory_format=CL) if x is not None else None
        features = []
        for block, block_ws in list(zip(blocks, self.block_ws(ws)))[start:stop]:
            block_noises = noises[layer_idx : layer_idx + block.num_conv] if noises is not None else None
            x, img = block(x, img, block_ws, noise_mode, block_noises)
            layer_idx += block.num_conv
            features.append(x)
        result = img.contiguous() if stop == len(blocks) else (x.contiguous(), img.contiguous())
        return (result, [f.contiguous() for f in features]) if return_features else result


class MappingNetwork(nn.Module):
    def __init__(self, z_dim: int, w_dim: int, num_ws: int, num_layers: int = 8, lr_multiplier: float = 0.01,
                 w_avg_beta: float = 0.995):
        super().__init__()
        self.z_dim, self.w_dim, self.num_ws, self.num_layers, self.w_avg_beta = z_dim, w_dim, num_ws, num_layers, w_avg_beta
        features = [z_dim] + [w_dim] * num_layers
        for i in range(num_layers):
            setattr(self, f"fc{i}", FullyConnectedLayer(features[i], features[i + 1], activation="lrelu", lr_multiplier=lr_multiplier))
        self.register_buffer("w_avg", torch.zeros(w_dim))

    def forward(self, z: Tensor, truncation_psi: float = 1.0, truncation_cutoff: int | None = None,
                update_w_avg: bool = False) -> Tensor:
        """z [N, z_dim] -> ws [N, num_ws, w_dim]; truncation pulls the first ``truncation_cutoff`` ws to w_avg."""
        x = z.float()
        x = x * (x.square().mean(dim=1, keepdim=True) + 1e-8).rsqrt()  # normalise the second moment
        for i in range(self.num_layers):
            x = getattr(self, f"fc{i}")(x)
        x = x.float()  # w stays fp32 under autocast
        if update_w_avg:
            self.w_avg.copy_(x.detach().mean(dim=0).lerp(self.w_avg, self.w_avg_beta))
        x = x.unsqueeze(1).repeat(1, self.num_ws, 1)
        if truncation_psi != 1:
            cutoff = self.num_ws if truncation_cutoff is None else truncation_cutoff
            x[:, :cutoff] = self.w_avg.lerp(x[:, :cutoff], truncation_psi)
        return x


# ----------------------------------------------------------------------------- generator


class Generator(nn.Module):
    """``G(z, truncation_psi, truncation_cutoff, noise_mode)`` = ``G.synthesis(G.mapping(z, ...))``."""

    def __init__(self, config: GeneratorConfig | dict | None = None, **overrides):
        super().__init__()
        if isinstance(config, dict):
            config = GeneratorConfig(**config)
        self.config = config = GeneratorConfig(**{**asdict(config or GeneratorConfig()), **overrides})
        self.z_dim, self.w_dim, self.img_resolution = config.z_dim, config.w_dim, config.img_resolution
        self.synthesis = SynthesisNetwork(config.w_dim, config.img_resolution, config.img_channels,
                                          config.channel_base, config.channel_max, config.conv_clamp)
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(config.z_dim, config.w_dim, self.num_ws, config.mapping_layers,
                                      config.mapping_lr_multiplier, config.w_avg_beta)

    @property
    def w_avg(self) -> Tensor:
        return self.mapping.w_avg

    def forward(self, z: Tensor, truncation_psi: float = 1.0, truncation_cutoff: int | None = None,
                noise_mode: str = "const") -> Tensor:
        """z [N, z_dim] -> images [N, 3, R, R] in the [-1, 1] convention (not clamped)."""
        return self.synthesis(self.mapping(z, truncation_psi, truncation_cutoff), noise_mode=noise_mode)


# ----------------------------------------------------------------------------- discriminator


class DiscriminatorBlock(nn.Module):
    def __init__(self, in_channels: int, tmp_channels: int, out_channels: int, img_channels: int,
                 conv_clamp: float | None = None):
        super().__init__()
        self.in_channels = in_channels
        self.register_buffer("resample_filter", fir_filter())  # unused; kept for NVlabs key names
        if in_channels == 0:
            self.fromrgb = Conv2dLayer(img_channels, tmp_channels, 1, activation="lrelu", conv_clamp=conv_clamp)
        self.conv0 = Conv2dLayer(tmp_channels, tmp_channels, 3, activation="lrelu", conv_clamp=conv_clamp)
        self.conv1 = Conv2dLayer(tmp_channels, out_channels, 3, activation="lrelu", down=2, conv_clamp=conv_clamp)
        self.skip = Conv2dLayer(tmp_channels, out_channels, 1, bias=False, down=2)

    def forward(self, x: Tensor, img: Tensor | None = None) -> Tensor:
        if self.in_channels == 0:
            x = self.fromrgb(img.contiguous(memory_format=CL))
        y = self.skip(x, gain=math.sqrt(0.5))
        x = self.conv1(self.conv0(x), gain=math.sqrt(0.5))
        return y + x


class MinibatchStdLayer(nn.Module):
    def __init__(self, group_size: int, num_channels: int = 1):
        super().__init__()
        self.group_size, self.num_channels = group_size, num_channels

    def forward(self, x: Tensor) -> Tensor:
        n, c, h, w = x.shape
        g = min(self.group_size, n) if self.group_size else n
        f = self.num_channels
        y = x.reshape(g, -1, f, c // f, h, w)  # groups of g samples, channels split into f parts
        y = (y - y.mean(dim=0)).square().mean(dim=0)  # variance over each group
        y = (y + 1e-8).sqrt().mean(dim=[2, 3, 4])  # [n/g, f] mean std over channels and pixels
        y = y.reshape(-1, f, 1, 1).repeat(g, 1, h, w)
        return torch.cat([x, y], dim=1)


class DiscriminatorEpilogue(nn.Module):
    def __init__(self, in_channels: int, resolution: int, mbstd_group_size: int, mbstd_num_channels: int,
                 conv_clamp: float | None = None):
        super().__init__()
        self.mbstd = MinibatchStdLayer(mbstd_group_size, mbstd_num_channels)
        self.conv = Conv2dLayer(in_channels + mbstd_num_channels, in_channels, 3, activation="lrelu", conv_clamp=conv_clamp)
        self.fc = FullyConnectedLayer(in_channels * resolution**2, in_channels, activation="lrelu")
        self.out = FullyConnectedLayer(in_channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv(self.mbstd(x))
        return self.out(self.fc(x.flatten(1)))


class Discriminator(nn.Module):
    """Residual discriminator: images [N, 3, R, R] in [-1, 1] -> logits [N, 1]."""

    def __init__(self, config: DiscriminatorConfig | dict | None = None, **overrides):
        super().__init__()
        if isinstance(config, dict):
            config = DiscriminatorConfig(**config)
        self.config = c = DiscriminatorConfig(**{**asdict(config or DiscriminatorConfig()), **overrides})
        log2 = int(math.log2(c.img_resolution))
        self.block_resolutions = [2**i for i in range(log2, 2, -1)]
        ch = {r: min(c.channel_base // r, c.channel_max) for r in self.block_resolutions + [4]}
        for res in self.block_resolutions:
            in_ch = ch[res] if res < c.img_resolution else 0
            setattr(self, f"b{res}", DiscriminatorBlock(in_ch, ch[res], ch[res // 2], c.img_channels, c.conv_clamp))
        self.b4 = DiscriminatorEpilogue(ch[4], 4, c.mbstd_group_size, c.mbstd_num_channels, c.conv_clamp)

    def forward(self, img: Tensor) -> Tensor:
        x = None
        for res in self.block_resolutions:
            x = getattr(self, f"b{res}")(x, img)
        return self.b4(x)
