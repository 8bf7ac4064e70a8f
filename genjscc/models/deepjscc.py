"""DeepJSCC (Bourtsoulatze, Kurka, Gündüz 2019) with an optional ADJSCC SNR-attention variant
and a stronger residual-GDN backbone (``arch="resgdn"``, :mod:`genjscc.models.jscc_backbones`).

Encoder: five 5x5 convolutions with PReLU (filters ``f1..f4, C``); the first
``log2(downsample)`` of them have stride 2. Decoder mirrors it with transposed
convolutions and ends in a sigmoid. The encoder output ``[B, C, H/f, W/f]`` is paired into
``k = C H W / (2 f^2)`` complex symbols and normalised to unit power per image, so the
bandwidth compression ratio is ``rho = C / (6 f^2)`` (``f = 8``: ``C = 384 rho``; 1/6 ... 1/384
are reachable).

``snr_adaptive=True`` inserts ADJSCC attention-feature (AF) modules (Xu et al. 2021) after
every layer but the last of each side: ``s = sigmoid(FC(ReLU(FC([mean_hw(x), snr_db]))))``
rescales the channels, so one model serves a range of SNRs.

The network is fully convolutional: one model sends an image of any size (sides that ``f`` does not
divide are reflect-padded and cropped back, :class:`~genjscc.models.base.JSCCModel`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn

from genjscc.layers.attention import AttentionFeature
from genjscc.models.base import JSCCModel
from genjscc.models.jscc_backbones import ResidualGDNDecoder, ResidualGDNEncoder

__all__ = ["DeepJSCCConfig", "DeepJSCC", "AttentionFeature", "ARCHS"]

ARCHS = ("paper", "resgdn")


@dataclass(frozen=True)
class DeepJSCCConfig:
    """Architecture of a DeepJSCC model (everything needed to rebuild it)."""

    channels: int  # C, real encoder output channels (sets the BCR)
    downsample: int = 8  # f, total stride: 2, 4, 8 or 16
    filters: tuple[int, ...] = (16, 32, 32, 32)  # hidden widths of layers 1..4 (paper: 16, 32, 32, 32)
    snr_adaptive: bool = False  # ADJSCC AF modules conditioned on the SNR
    power: float = 1.0  # average power per complex symbol, P
    kernel_size: int = 5  # paper backbone: convolution kernel
    arch: str = "paper"  # "paper" (Bourtsoulatze five-conv stacks) | "resgdn" (residual GDN stages, jscc_backbones)
    width: int = 96  # resgdn: channels of the residual stages (the finer stages halve it)
    blocks: int = 2  # resgdn: residual blocks at the latent resolution

    def __post_init__(self):
        if self.arch not in ARCHS:
            raise ValueError(f"arch must be one of {', '.join(ARCHS)}, got {self.arch!r}")
        for name in ("channels", "downsample", "kernel_size", "width", "blocks"):
            if not isinstance(getattr(self, name), int) or isinstance(getattr(self, name), bool):
                raise TypeError(f"{name} must be an integer, got {getattr(self, name)!r}")
        if not isinstance(self.snr_adaptive, bool):
            raise TypeError(f"snr_adaptive must be true or false, got {self.snr_adaptive!r}")
        if self.downsample not in (2, 4, 8, 16):
            raise ValueError(f"downsample must be 2, 4, 8 or 16, got {self.downsample}")
        if self.channels < 1:
            raise ValueError(f"channels must be >= 1, got {self.channels}")
        object.__setattr__(self, "filters", tuple(int(f) for f in self.filters))
        if len(self.filters) != 4:
            raise ValueError(f"filters needs 4 hidden widths, got {self.filters}")

    @property
    def num_down(self) -> int:
        return int(math.log2(self.downsample))

    def to_dict(self) -> dict:
        d = asdict(self)
        d["filters"] = list(self.filters)
        return d


class _Stack(nn.Module):
    """Layers with PReLU between them and optional AF modules after each hidden layer.

    ``channels_last``: run the layers on NHWC tensors (oneDNN's convolutions are faster on
    them on CPU); the output is NCHW either way and agrees with the NCHW path to float rounding.
    """

    def __init__(self, layers: list[nn.Module], widths: list[int], snr_adaptive: bool, final: nn.Module,
                 channels_last: bool = True):
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.acts = nn.ModuleList(nn.PReLU(w) for w in widths[:-1])
        self.attention = nn.ModuleList(AttentionFeature(w) for w in widths[:-1]) if snr_adaptive else None
        self.final = final
        self.channels_last = channels_last

    def forward(self, x: Tensor, snr_db: Tensor | None) -> Tensor:
        if self.channels_last:
            return self._forward(x.contiguous(memory_format=torch.channels_last), snr_db).contiguous()
        return self._forward(x, snr_db)

    def _forward(self, x: Tensor, snr_db: Tensor | None) -> Tensor:
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < last:
                x = self.acts[i](x)
                if self.attention is not None:
                    x = self.attention[i](x, snr_db)
        return self.final(x)


class DeepJSCC(JSCCModel):
    """Encoder -> power normalisation -> channel -> decoder (the skeleton: :class:`~genjscc.models.base.JSCCModel`).

    ``forward(images [B, 3, H, W] in [0, 1], channel, snr_db)`` returns reconstructions of the
    same shape in [0, 1]. ``snr_db`` is a float or a tensor ``[B]`` (dB).
    """

    kind = "deepjscc"
    config_class = DeepJSCCConfig

    def __init__(self, config: DeepJSCCConfig):
        super().__init__(config)
        if config.arch == "resgdn":
            self.encoder = ResidualGDNEncoder(config.channels, config.downsample, config.width, config.snr_adaptive,
                                              config.blocks)
            self.decoder = ResidualGDNDecoder(config.channels, config.downsample, config.width, config.snr_adaptive,
                                              config.blocks)
            return
        k, pad = config.kernel_size, config.kernel_size // 2
        enc_widths = [*config.filters, config.channels]
        enc_layers, c_in = [], 3
        for i, width in enumerate(enc_widths):
            stride = 2 if i < config.num_down else 1
            enc_layers.append(nn.Conv2d(c_in, width, k, stride=stride, padding=pad))
            c_in = width
        self.encoder = _Stack(enc_layers, enc_widths, config.snr_adaptive, nn.Identity())

        dec_widths = [*reversed(config.filters), 3]
        dec_layers, c_in = [], config.channels
        for i, width in enumerate(dec_widths):
            upsample = i >= len(dec_widths) - config.num_down  # the last num_down layers upsample
            if upsample:
                dec_layers.append(nn.ConvTranspose2d(c_in, width, k, stride=2, padding=pad, output_padding=1))
            else:
                dec_layers.append(nn.ConvTranspose2d(c_in, width, k, stride=1, padding=pad))
            c_in = width
        self.decoder = _Stack(dec_layers, dec_widths, config.snr_adaptive, nn.Sigmoid())

    def decode_latent(self, latent: Tensor, snr: Tensor) -> Tensor:
        """Received latent ``[B, C, H/f, W/f]`` -> images ``[B, 3, H, W]`` in [0, 1] (the decoder ends in a sigmoid)."""
        return self.decoder(latent, snr)
