r"""The ideal code: a capacity-achieving channel code, error-free below capacity.

Budgets, for ``k`` complex channel uses per image and ``S = 10^{SNR/10}``:

* AWGN: :math:`B = \lfloor k \log_2(1 + S) \rfloor` bits, always delivered.
* Block (slow) Rayleigh, one :math:`h \sim \mathcal{CN}(0, 1)` per image: the transmitter
  does not know :math:`h`, so it picks a rate :math:`R` (bits per channel use), sends
  :math:`\lfloor k R \rfloor` bits, and the image is lost (outage) when the instantaneous
  capacity falls short, :math:`\log_2(1 + |h|^2 S) < R`. With :math:`|h|^2 \sim \mathrm{Exp}(1)`
  the outage probability is :math:`\varepsilon = 1 - e^{-(2^R - 1)/S}`, so a target outage
  :math:`\varepsilon` gives :math:`R_\varepsilon = \log_2(1 - S \ln(1 - \varepsilon))`.
  ``outage="average"`` uses the average-SNR rate :math:`\log_2(1 + S)` (outage
  :math:`1 - e^{-1} \approx 63\%`). The default ``outage="best"`` offers the targets
  :data:`OUTAGE_TARGETS` and the average-SNR rate; the scheme keeps the one with the best
  *expected* mean PSNR, :math:`(1-\varepsilon)\,\mathrm{PSNR}(\text{decoded}) +
  \varepsilon\,\mathrm{PSNR}(\text{mean image})`, computed in closed form, so the choice
  does not depend on the fading draws it is then evaluated on.
* Fast Rayleigh (independent :math:`h` per symbol, coding across many fades): the ergodic
  capacity :math:`\mathbb{E}\log_2(1 + |h|^2 S) = e^{1/S} E_1(1/S) / \ln 2` per use, delivered.

The receiver is assumed to know :math:`h` (coherent capacity) whatever the channel's CSI
setting; no length field or other overhead is charged.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from genjscc.channel import AWGN, BlockRayleigh, Channel, FastRayleigh
from genjscc.separation.link import Link, LinkOption

__all__ = [
    "CapacityLink",
    "OUTAGE_TARGETS",
    "capacity_per_use",
    "bit_budget",
    "outage_rate",
    "outage_probability",
    "ergodic_capacity",
    "in_outage",
]

OUTAGE_TARGETS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5)


def _linear(snr_db: float) -> float:
    return 10.0 ** (snr_db / 10.0)


def capacity_per_use(snr_db: float) -> float:
    """AWGN capacity ``log2(1 + S)`` in bits per complex channel use."""
    return math.log2(1.0 + _linear(snr_db))


def bit_budget(k: int, rate: float) -> int:
    """Bits that ``k`` channel uses carry at ``rate`` bits per use: ``floor(k R)``."""
    if k < 0 or rate < 0:
        raise ValueError(f"k and rate must be non-negative, got k={k}, rate={rate}")
    return math.floor(k * rate + 1e-9)  # guard against k*R landing a hair below an integer


def outage_rate(snr_db: float, outage: float) -> float:
    """Rate ``R`` (bits/use) whose outage probability over block Rayleigh fading is ``outage``."""
    if not 0 < outage < 1:
        raise ValueError(f"target outage probability must lie in (0, 1), got {outage}")
    return math.log2(1.0 - _linear(snr_db) * math.log1p(-outage))


def outage_probability(rate: float, snr_db: float) -> float:
    """``P(log2(1 + |h|^2 S) < R)`` for ``h ~ CN(0, 1)``: ``1 - exp(-(2^R - 1) / S)``."""
    return -math.expm1(-(2.0**rate - 1.0) / _linear(snr_db))


def ergodic_capacity(snr_db: float) -> float:
    """``E[log2(1 + |h|^2 S)]`` for ``h ~ CN(0, 1)``, in bits per use."""
    from scipy.special import exp1

    s = _linear(snr_db)
    return float(math.exp(1.0 / s) * exp1(1.0 / s) / math.log(2.0))


def in_outage(h: Tensor, snr_db: float, rate: float) -> Tensor:
    """``[B]`` bool: instantaneous capacity ``log2(1 + |h|^2 S)`` below ``rate`` (``h [B]`` or ``[B, 1]``)."""
    gain = h.reshape(h.shape[0], -1)[:, 0].abs().square().double()
    return torch.log2(1.0 + gain * _linear(snr_db)) < rate


class CapacityLink(Link):
    """Ideal capacity-achieving code (see module docstring).

    outage: ``"best"`` (default), ``"average"``, or a target outage probability in (0, 1);
    used for block Rayleigh fading only.
    """

    name = "capacity"

    def __init__(self, outage: str | float = "best"):
        if isinstance(outage, str) and outage not in ("best", "average"):
            try:
                outage = float(outage)
            except ValueError:
                raise ValueError(
                    f"outage must be 'best', 'average' or a probability in (0, 1), got {outage!r}"
                ) from None
        if isinstance(outage, float) and not 0 < outage < 1:
            raise ValueError(f"target outage probability must lie in (0, 1), got {outage}")
        self.outage = outage

    def options(self, k, channel, snr_db):
        if isinstance(channel, FastRayleigh):
            rate = ergodic_capacity(snr_db)
            return [LinkOption(f"ergodic R={rate:.3f}", bit_budget(k, rate) // 8, rate, 1.0)]
        if isinstance(channel, BlockRayleigh):
            targets = OUTAGE_TARGETS + ("average",) if self.outage == "best" else (self.outage,)
            options = []
            for target in targets:
                rate = capacity_per_use(snr_db) if target == "average" else outage_rate(snr_db, target)
                eps = outage_probability(rate, snr_db)
                name = "average-SNR rate" if target == "average" else f"outage {target:g}"
                options.append(LinkOption(f"{name} R={rate:.3f}", bit_budget(k, rate) // 8, rate, 1.0 - eps))
            return options
        if isinstance(channel, AWGN):
            rate = capacity_per_use(snr_db)
            return [LinkOption(f"R={rate:.3f}", bit_budget(k, rate) // 8, rate, 1.0)]
        raise ValueError(f"the capacity code knows AWGN, block and fast Rayleigh channels, not {channel.describe()}")

    def deliver(self, option, files, k, channel, snr_db, *, generator=None, decode=None):
        sent = torch.tensor([f is not None for f in files], dtype=torch.bool)
        if not isinstance(channel, BlockRayleigh):
            return sent
        # one fading draw per image, from the evaluation's generator
        h = channel.draw_fading(torch.zeros(len(files), 1, dtype=torch.complex64), generator=generator)
        return sent & ~in_outage(h, snr_db, option.rate)

    def describe(self):
        return f"capacity(outage={self.outage})"
