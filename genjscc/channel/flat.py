"""Flat channels: complex AWGN and block / fast Rayleigh fading, with or without CSI.

``y = h z + w`` with ``w ~ CN(0, P / 10^(snr_db/10))``; ``h = 1`` (AWGN), one ``h ~ CN(0, 1)``
per image (block) or per symbol (fast). Conventions in :mod:`genjscc.channel.base`.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from genjscc.channel.base import Channel, check_csi, SoftSymbols, _complex_normal, noise_variance, snr_tensor

__all__ = ["AWGN", "BlockRayleigh", "FastRayleigh", "Equalizer"]

class AWGN(Channel):
    """Complex AWGN: ``y = z + w``, ``w ~ CN(0, P / 10^(snr_db/10))``."""

    name = "awgn"

    def __init__(self, power: float = 1.0):
        super().__init__()
        self.power = power

    def forward(self, z: Tensor, snr_db: float | Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        self._check(z)
        return z + self._noise(z, snr_tensor(snr_db, z.shape[0], z.device), generator)

    def receive_soft(self, z, snr_db, *, generator=None) -> SoftSymbols:
        """``y = z + w`` (the same draw as :meth:`forward`) with noise variance ``sigma^2`` on every symbol."""
        self._check(z)
        snr = snr_tensor(snr_db, z.shape[0], z.device)
        y = z + self._noise(z, snr, generator)
        return SoftSymbols(y, noise_variance(snr, self.power).unsqueeze(1).expand(y.shape).contiguous())


Equalizer = Literal["zf", "mmse", "none"]


class _Rayleigh(Channel):
    """Shared logic of block and fast Rayleigh fading: ``y = h z + w``, ``h ~ CN(0, 1)``.

    ``csi``: ``"zf"`` returns ``y h* / |h|^2``; ``"mmse"`` returns
    ``y h* / (|h|^2 + sigma^2 / P)``; ``"none"`` returns ``y`` (no channel knowledge).
    """

    def __init__(self, csi: Equalizer = "mmse", power: float = 1.0):
        super().__init__()
        self.csi = check_csi(csi)
        self.power = power

    def draw_fading(self, z: Tensor, *, generator: torch.Generator | None = None) -> Tensor:  # pragma: no cover
        raise NotImplementedError

    def forward(
        self,
        z: Tensor,
        snr_db: float | Tensor,
        *,
        h: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        self._check(z)
        snr = snr_tensor(snr_db, z.shape[0], z.device)
        y, h = self._received(z, snr, h, generator)
        if self.csi == "none":
            return y
        if self.csi == "zf":
            return y * h.conj() / (h.abs().square().clamp_min(1e-12))
        inv_snr = noise_variance(snr.unsqueeze(1), self.power) / self.power
        return y * h.conj() / (h.abs().square() + inv_snr)

    def _received(self, z: Tensor, snr: Tensor, h: Tensor | None, generator) -> tuple[Tensor, Tensor]:
        """``(y = h z + w, h)``, both ``[B, k]``; draws ``h`` (then ``w``) from ``generator`` unless given."""
        if h is None:
            h = self.draw_fading(z, generator=generator)
        h = torch.broadcast_to(h.to(z.device), z.shape)
        return h * z + self._noise(z, snr, generator), h

    def receive_soft(self, z, snr_db, *, generator=None) -> SoftSymbols:
        """``y / h = z + w / h`` with noise variance ``sigma^2 / |h_j|^2``; the same draws as :meth:`forward`.

        Zero forcing and the bias-removed MMSE estimate coincide for one antenna, so ``csi`` (zf or
        mmse) does not change the result; ``csi="none"`` is refused (no coherent receiver).
        """
        self._check(z)
        self._require_coherent()
        snr = snr_tensor(snr_db, z.shape[0], z.device)
        y, h = self._received(z, snr, None, generator)
        gain = h.abs().square().clamp_min(1e-12)
        sigma2 = noise_variance(snr, self.power).unsqueeze(1)
        return SoftSymbols(y * h.conj() / gain, sigma2 / gain)

    def describe(self) -> str:
        return f"{self.name}(csi={self.csi})"


class BlockRayleigh(_Rayleigh):
    """Slow (block) Rayleigh fading: one ``h ~ CN(0, 1)`` per image, ``h [B, 1]``."""

    name = "rayleigh"

    def draw_fading(self, z: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        return _complex_normal((z.shape[0], 1), generator=generator, device=z.device)


class FastRayleigh(_Rayleigh):
    """Fast Rayleigh fading: an independent ``h ~ CN(0, 1)`` per symbol, ``h [B, k]``."""

    name = "fast-rayleigh"

    def draw_fading(self, z: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        return _complex_normal(tuple(z.shape), generator=generator, device=z.device)
