"""Complex channel symbols, the per-image power constraint, SNR and the ``Channel`` base class.

Conventions (the README's "Conventions" table), used everywhere in genjscc:

* Channel symbols are complex: ``z [B, k] complex64``, one row per image, ``k`` complex
  channel uses per image. Real encoder outputs ``[B, C, h, w]`` are paired into complex
  symbols by :func:`real_to_complex` (consecutive real values form one symbol).
* Power: each image's symbols satisfy ``mean_j |z_j|^2 = P`` (:func:`power_normalize`).
* SNR is given in dB, as a Python float or a per-image tensor ``[B]``; the noise variance
  per *complex* symbol is ``sigma^2 = P / 10^(snr_db/10)``, i.e. ``sigma^2 / 2`` per real
  dimension. A :class:`CheckedSNR` (made by :func:`check_snr`) is an SNR already checked: a model
  checks its caller's SNR once and hands the channel that, which takes it as it is.
* Bandwidth compression ratio ``rho = k / n`` with ``n = 3 H W`` real source values.

Channels are ``nn.Module`` s whose ``forward(z, snr_db, *, h=None, generator=None)`` returns
the received (and, with CSI, equalised) symbols. They are differentiable in ``z``. Coherent
channels also offer :meth:`Channel.receive_soft`, which returns unbiased symbol estimates with
their noise variance per symbol (:class:`SoftSymbols`), what a soft demapper needs for its LLRs.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor, nn

__all__ = [
    "Channel",
    "SoftSymbols",
    "power_normalize",
    "real_to_complex",
    "complex_to_real",
    "noise_variance",
    "snr_tensor",
    "check_snr",
    "CheckedSNR",
    "sample_snr_db",
]

SNR_DB_LIMIT = 100.0  # |SNR| beyond this is almost certainly a unit mistake (linear vs dB)


# ----------------------------------------------------------------------------- symbols


def real_to_complex(x: Tensor) -> Tensor:
    """Pair the real values of each image into complex symbols.

    x: ``[B, ...]`` real with an even number of values per image.
    Returns ``[B, k]`` complex, ``k = x[0].numel() / 2``; value ``2j`` is the real part and
    ``2j+1`` the imaginary part of symbol ``j`` (row-major order of ``x[b]``).
    """
    if x.is_complex():
        raise TypeError("real_to_complex expects a real tensor, got a complex one")
    batch = x.shape[0]
    per_image = x[0].numel() if batch else 0
    if per_image % 2:
        raise ValueError(
            f"each image needs an even number of real values to form complex symbols, "
            f"got {per_image} (shape {tuple(x.shape)}); use an even channel count"
        )
    pairs = x.reshape(batch, per_image // 2, 2).float()
    return torch.view_as_complex(pairs.contiguous())


def complex_to_real(z: Tensor, shape: torch.Size | tuple[int, ...]) -> Tensor:
    """Inverse of :func:`real_to_complex`: ``[B, k]`` complex -> real tensor of ``shape``."""
    return torch.view_as_real(z).reshape(shape)


def power_normalize(z: Tensor, power: float = 1.0) -> Tensor:
    """Scale each image's symbols to average power ``power``.

    z: ``[B, k]`` complex. Returns ``sqrt(k P) z / ||z||`` per row, so that
    ``mean_j |z_j|^2 = P`` exactly (up to float rounding) for every image.
    """
    if not z.is_complex() or z.dim() != 2:
        raise ValueError(f"power_normalize expects complex symbols [B, k], got {tuple(z.shape)} {z.dtype}")
    if power <= 0:
        raise ValueError(f"power must be positive, got {power}")
    k = z.shape[1]
    norm = torch.linalg.vector_norm(z, dim=1, keepdim=True).clamp_min(1e-12)
    return z * (math.sqrt(k * power) / norm)


# ----------------------------------------------------------------------------- SNR


@dataclass(frozen=True)
class CheckedSNR:
    """Per-image SNRs in dB that :func:`check_snr` has checked: ``db [B]`` float32.

    A model checks its caller's SNR once per call and passes this to its channel, whose
    :func:`snr_tensor` takes it without checking the values again (so a device tensor is not
    read back twice). Make it with :func:`check_snr`, never from unchecked values.
    """

    db: Tensor


def check_snr(snr_db: float | Tensor | CheckedSNR, batch: int, device: torch.device | str | None = None) -> CheckedSNR:
    """:func:`snr_tensor`'s checked ``[B]`` tensor, marked as checked for the channel."""
    return CheckedSNR(snr_tensor(snr_db, batch, device))


def snr_tensor(snr_db: float | Tensor | CheckedSNR, batch: int, device: torch.device | str | None = None) -> Tensor:
    """Return the SNR in dB as a float tensor ``[B]`` on ``device`` (a scalar is broadcast).

    Raises ``ValueError`` for non-finite values, a wrong length, or |SNR| > 100 dB (which
    usually means a linear SNR was passed where dB is expected). Numbers and CPU tensors are
    checked on the host and then copied without blocking, so training loops that draw their
    SNRs on the host (:func:`sample_snr_db` without ``device``) never wait for the GPU here; a
    tensor already on an accelerator is checked there, which reads one flag back. A
    :class:`CheckedSNR` is taken as checked: only its length is compared with ``batch``.
    """
    if isinstance(snr_db, CheckedSNR):
        if snr_db.db.shape != (batch,):
            raise ValueError(f"snr_db must be a scalar or a tensor [B={batch}], got shape {tuple(snr_db.db.shape)}")
        return snr_db.db.to(device) if device is not None else snr_db.db
    if isinstance(snr_db, numbers.Real):
        _check_snr_values(torch.tensor([float(snr_db)]))
        return torch.full((batch,), float(snr_db), dtype=torch.float32, device=device)
    snr = torch.as_tensor(snr_db).to(dtype=torch.float32)
    if snr.dim() == 0:
        snr = snr.expand(batch)
    elif snr.shape != (batch,):
        raise ValueError(f"snr_db must be a scalar or a tensor [B={batch}], got shape {tuple(snr.shape)}")
    if snr.device.type == "cpu":
        _check_snr_values(snr)
        return snr.to(device, non_blocking=True) if device is not None else snr
    snr = snr.to(device) if device is not None else snr
    bad = (~torch.isfinite(snr) | (snr.abs() > SNR_DB_LIMIT)).any()
    if bad:  # one read-back
        _check_snr_values(snr.cpu())
    return snr


def _check_snr_values(snr: Tensor) -> None:
    if not torch.isfinite(snr).all():
        raise ValueError("snr_db must be finite (got NaN or inf)")
    if (snr.abs() > SNR_DB_LIMIT).any():
        worst = snr[snr.abs().argmax()].item()
        raise ValueError(
            f"snr_db {worst:g} is out of range: give the SNR in dB "
            f"(|SNR| <= {SNR_DB_LIMIT:g}), e.g. 10 for 10 dB, not a linear ratio"
        )


def noise_variance(snr_db: Tensor, power: float = 1.0) -> Tensor:
    """Noise variance per complex symbol, ``sigma^2 = P / 10^(snr_db / 10)``."""
    return power / torch.pow(10.0, snr_db / 10.0)


def sample_snr_db(
    batch: int, low: float, high: float, *, generator: torch.Generator | None = None, device=None
) -> Tensor:
    """Draw per-image SNRs uniformly in ``[low, high]`` dB: ``[B]`` float."""
    if high < low:
        raise ValueError(f"SNR range low={low} > high={high}; give it as LOW,HIGH")
    u = torch.rand(batch, generator=generator, device=device)
    return low + (high - low) * u


def _complex_normal(shape, *, generator, device) -> Tensor:
    """Standard circular complex Gaussian CN(0, 1): each real part has variance 1/2."""
    parts = torch.randn(*shape, 2, generator=generator, device=device) * math.sqrt(0.5)
    return torch.view_as_complex(parts)


# ----------------------------------------------------------------------------- channels


class SoftSymbols(NamedTuple):
    """A coherent receiver's output for soft demapping.

    ``symbols [B, k]`` complex: unbiased estimates ``s_j = z_j + n_j`` of the sent symbols;
    ``noise_variance [B, k]`` float: ``E|n_j|^2`` per complex symbol (half per real dimension), the
    effective noise after equalisation (e.g. ``sigma^2 / |h_j|^2`` after a flat fade ``h_j``).
    """

    symbols: Tensor
    noise_variance: Tensor


EQUALIZERS = ("mmse", "zf", "none")  # receiver CSI of fading channels: MMSE, zero forcing, no equaliser


def check_csi(csi: str) -> str:
    """``csi`` if it names an equaliser (:data:`EQUALIZERS`), else a ``ValueError`` naming the choices."""
    if csi not in EQUALIZERS:
        raise ValueError(f"csi must be 'mmse', 'zf' or 'none', got {csi!r}")
    return csi


class Channel(nn.Module):
    """Base class: ``forward(z [B, k] complex, snr_db) -> y [B, k] complex``."""

    name: str = "channel"
    power: float = 1.0

    def receive_soft(
        self, z: Tensor, snr_db: float | Tensor, *, generator: torch.Generator | None = None
    ) -> SoftSymbols:
        """Send ``z [B, k]`` and return unbiased symbol estimates with their per-symbol noise variance.

        Channels whose receiver can state that variance override this; the others refuse.
        """
        raise ValueError(
            f"{self.describe()} does not report the noise variance of its equalised symbols, so soft "
            f"demapping cannot use it: use awgn, rayleigh, fast-rayleigh, rician or an ofdm-* channel"
        )

    def _require_coherent(self) -> None:
        """Soft demapping needs an equalised channel: refuse ``csi="none"`` (no coherent receiver)."""
        if getattr(self, "csi", None) == "none":
            raise ValueError(f"{self.describe()} has no coherent receiver; soft demapping needs csi='mmse' or 'zf'")

    def _noise(self, z: Tensor, snr: Tensor, generator) -> Tensor:
        """Noise ``[B, k]`` for symbols ``z``; ``snr`` is an already checked ``[B]`` tensor in dB."""
        sigma = noise_variance(snr, self.power).sqrt().unsqueeze(1)
        return sigma * _complex_normal(z.shape, generator=generator, device=z.device)

    @staticmethod
    def _check(z: Tensor) -> None:
        if not z.is_complex() or z.dim() != 2:
            raise ValueError(f"channel input must be complex symbols [B, k], got {tuple(z.shape)} {z.dtype}")

    def describe(self) -> str:
        return self.name
