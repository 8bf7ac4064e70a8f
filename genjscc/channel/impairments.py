"""What real radios add to a channel: Rician fading, phase noise, amplifier clipping.

All act on complex symbols ``[B, k]`` with the conventions of :mod:`genjscc.channel`.
Stages compose with any channel through :class:`Impaired` (on the CLI: ``clip:level_db=3+awgn``):
transmitter stages (clipping) act on what is sent, receiver stages (phase noise) on what the
channel returns. The PAPR of what is sent is measured by :func:`genjscc.channel.ofdm.papr_db` (and
:meth:`genjscc.channel.ofdm.OFDMMultipath.papr_db` for the OFDM waveform).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from genjscc.channel.base import Channel, _complex_normal
from genjscc.channel.flat import _Rayleigh

__all__ = ["Rician", "PhaseNoise", "Clip", "Impaired"]


class Rician(_Rayleigh):
    """Block Rician fading: one ``h = sqrt(K/(K+1)) e^{j theta} + sqrt(1/(K+1)) g`` per image.

    ``g ~ CN(0, 1)``, line-of-sight phase ``theta`` uniform in ``[0, 2 pi)``, ``K`` the linear
    Rician factor given in dB (``k_db``); ``E|h|^2 = 1``. ``K -> 0`` is Rayleigh, ``K -> inf`` AWGN.
    """

    name = "rician"

    def __init__(self, k_db: float = 6.0, csi: str = "mmse", power: float = 1.0):
        super().__init__(csi=csi, power=power)
        self.k_db = k_db

    def draw_fading(self, z: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        k = 10 ** (self.k_db / 10)
        theta = 2 * math.pi * torch.rand(z.shape[0], 1, generator=generator, device=z.device)
        los = torch.polar(torch.full_like(theta, math.sqrt(k / (k + 1))), theta)
        return los + math.sqrt(1 / (k + 1)) * _complex_normal((z.shape[0], 1), generator=generator, device=z.device)

    def describe(self) -> str:
        return f"rician(K={self.k_db:g}dB,csi={self.csi})"


class PhaseNoise(nn.Module):
    """Receiver oscillator phase noise (Wiener): symbol ``j`` is rotated by ``phi_j``.

    ``phi_0 = 0``, ``phi_j = phi_{j-1} + N(0, std_deg^2)`` (degrees), along
    each image's symbol order. Receiver-side stage.
    """

    side = "rx"

    def __init__(self, std_deg: float = 1.0):
        super().__init__()
        if std_deg < 0:
            raise ValueError(f"phase-noise std_deg must be >= 0, got {std_deg}")
        self.std_deg = std_deg

    def forward(self, y: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        steps = torch.randn(y.shape, generator=generator, device=y.device) * math.radians(self.std_deg)
        phi = torch.cumsum(steps, dim=1)
        return y * torch.polar(torch.ones_like(phi), phi)

    def describe(self) -> str:
        return f"phase-noise({self.std_deg:g}deg)"


class Clip(nn.Module):
    """Amplifier saturation (ideal soft limiter): ``|z|`` is capped at ``level_db`` dB above the RMS.

    ``z_j -> z_j min(1, A / |z_j|)``, ``A = sqrt(P_image) 10^(level_db/20)`` per image. Transmitter-side
    stage; the clipped symbols are not renormalised (the amplifier lowers the power).
    """

    side = "tx"

    def __init__(self, level_db: float = 3.0):
        super().__init__()
        self.level_db = level_db

    def forward(self, z: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        rms = z.abs().square().mean(1, keepdim=True).sqrt()
        limit = rms * 10 ** (self.level_db / 20)
        return z * torch.clamp(limit / z.abs().clamp_min(1e-12), max=1.0)

    def describe(self) -> str:
        return f"clip({self.level_db:g}dB)"


class Impaired(Channel):
    """A channel with impairment stages: tx stages, then the channel, then rx stages (in order)."""

    def __init__(self, channel: Channel, stages: list[nn.Module]):
        super().__init__()
        self.channel = channel
        self.stages = nn.ModuleList(stages)
        self.power = channel.power
        self.name = "+".join([s.describe() for s in stages] + [channel.name])

    def forward(self, z: Tensor, snr_db, *, generator: torch.Generator | None = None) -> Tensor:
        self._check(z)
        for stage in self.stages:
            if stage.side == "tx":
                z = stage(z, generator=generator)
        y = self.channel(z, snr_db, generator=generator)
        for stage in self.stages:
            if stage.side == "rx":
                y = stage(y, generator=generator)
        return y

    def describe(self) -> str:
        return "+".join([s.describe() for s in self.stages] + [self.channel.describe()])
