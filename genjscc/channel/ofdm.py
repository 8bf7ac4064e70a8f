"""JSCC symbols over OFDM on 3GPP multipath channels (Sionna's TR 38.901 TDL / CDL models).

The link, per image (genjscc conventions of :mod:`genjscc.channel`, complex ``z [B, k]``):

1. The ``k`` symbols fill the data resource elements (REs) of ``S = ceil(k / D)`` slots of an
   OFDM resource grid (``D`` data REs per slot), row by row (OFDM symbol, then subcarrier); the
   last slot is padded with zeros. Pilots (Sionna's Kronecker pattern: QPSK, drawn once with seed 0)
   fill their own REs.
2. Each slot sees an independent channel frequency response ``H [14, F]`` drawn by Sionna from
   the 3GPP model (delay spread, UE speed -> Doppler within the slot, carrier frequency),
   normalised so that ``E|H|^2 = 1`` per RE.
3. ``Y = H X + W`` per RE, ``W ~ CN(0, sigma^2)``, ``sigma^2 = P / 10^(snr_db/10)``: **the SNR is
   per data RE** (the average received data-RE power over the noise power), per image.
4. The receiver knows ``H`` (``estimator="perfect"``) or estimates it by least squares at the
   pilots, interpolated over the grid (Sionna ``LSChannelEstimator``, linear interpolation),
   and equalises each RE: MMSE ``conj(H^) Y P / (|H^|^2 P + e P + sigma^2)`` with ``e`` the
   estimate's error variance (single antenna: this is the LMMSE equaliser), or ZF ``Y / H^``.
   ``e`` per RE is ``sigma^2 sum_i |w_i|^2 / |p_i|^2``, ``w_i`` the interpolation weights of the
   pilots ``p_i`` (the LS errors at the pilots are independent, ``sigma^2 / |p_i|^2`` each);
   Sionna's own interpolated variance ``sum_i w_i sigma^2 / |p_i|^2`` is exact only at the pilots.
   It leaves out the interpolation's model error (the channel's change between pilots), which is
   small at walking speed (3 m/s at 3.5 GHz: 35 Hz Doppler over a 0.5 ms slot).
5. For soft demapping (:meth:`OFDMMultipath.receive_soft`) the receiver hands over the
   unbiased estimate ``Y / H^`` (ZF; the bias-removed LMMSE estimate is the same for one antenna)
   and its noise variance per data RE, ``(sigma^2 + e P) / |H^|^2``: ``Y / H^ = X + (W - E X) / H^``
   with ``E = H^ - H`` of variance ``e``.

Overheads: the JSCC BCR counts the ``k`` data symbols only. The radio also sends pilots,
padding and cyclic prefixes; :meth:`OFDMMultipath.overhead` reports them and the effective
BCR ``S * N_sym * (F + CP) / n``.

Sionna is imported on first use (it takes seconds), never by ``import genjscc``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
from torch import Tensor

from genjscc.channel.base import Channel, SoftSymbols, _complex_normal, check_csi, noise_variance, snr_tensor
from genjscc.channel.impairments import Clip

__all__ = ["OFDMGrid", "OFDMMultipath", "papr_db", "MODELS_3GPP"]

MODELS_3GPP = ("A", "B", "C", "D", "E")  # the TDL and the CDL families both have models A-E


@dataclass(frozen=True)
class OFDMGrid:
    """One slot of the OFDM resource grid: ``symbols x fft_size`` REs, pilots on ``pilot_symbols``.

    ``subcarrier_spacing`` in Hz, ``cyclic_prefix`` in samples. Every subcarrier carries data
    (no guard bands, no DC null), so a slot holds ``(symbols - len(pilot_symbols)) * fft_size``
    data REs.
    """

    symbols: int = 14
    fft_size: int = 72
    subcarrier_spacing: float = 30e3
    cyclic_prefix: int = 6
    pilot_symbols: tuple[int, ...] = (2, 11)

    def __post_init__(self):
        if self.symbols < 1 or self.fft_size < 2 or self.cyclic_prefix < 0 or self.subcarrier_spacing <= 0:
            raise ValueError(f"bad OFDM grid {self}: symbols >= 1, fft_size >= 2, cyclic_prefix >= 0, spacing > 0")
        if not self.pilot_symbols or any(not 0 <= s < self.symbols for s in self.pilot_symbols):
            raise ValueError(f"pilot_symbols {self.pilot_symbols} must be OFDM symbol indices in [0, {self.symbols})")

    @property
    def data_per_slot(self) -> int:
        return (self.symbols - len(set(self.pilot_symbols))) * self.fft_size


class _ReceiverParts(NamedTuple):
    """The Sionna blocks and fixed tensors of one OFDM link on one device."""

    generate: Any  # Sionna GenerateOFDMChannel: slots -> H
    estimate: Any  # Sionna LSChannelEstimator
    pilot_grid: Tensor  # [symbols, fft] complex: pilots, zeros at the data REs
    data_index: Tensor  # [data_per_slot] flat indices of the data REs
    error_gain: Tensor  # [symbols, fft] LS error variance over sigma^2 (see _ls_error_gain)


def papr_db(x: Tensor) -> Tensor:
    """Peak-to-average power ratio of each row: ``10 log10(max |x|^2 / mean |x|^2)`` in dB, ``[B]``."""
    power = x.reshape(x.shape[0], -1).abs().square()
    return 10 * torch.log10(power.amax(1) / power.mean(1).clamp_min(1e-30))


class OFDMMultipath(Channel):
    """OFDM over a 3GPP TDL or CDL channel (single antenna at both ends); see the module docstring.

    family: ``"tdl"`` or ``"cdl"``; model: ``"A"`` … ``"E"``; delay_spread in seconds; speed in
    m/s (UE speed: Doppler); carrier_frequency in Hz; estimator: ``"perfect"`` or ``"ls"``;
    csi (the equaliser): ``"mmse"``, ``"zf"`` or ``"none"`` (returns the received data REs);
    clip_db: if given, the transmitter clips the time-domain OFDM waveform (per OFDM symbol,
    before the cyclic prefix) at ``clip_db`` dB above its RMS amplitude (an ideal soft limiter).
    """

    def __init__(
        self,
        *,
        family: str = "tdl",
        model: str = "C",
        delay_spread: float = 300e-9,
        speed: float = 3.0,
        carrier_frequency: float = 3.5e9,
        estimator: str = "ls",
        csi: str = "mmse",
        clip_db: float | None = None,
        grid: OFDMGrid = OFDMGrid(),
        power: float = 1.0,
    ):
        super().__init__()
        family, model = family.lower(), model.upper()
        if family not in ("tdl", "cdl"):
            raise ValueError(f"family must be 'tdl' or 'cdl', got {family!r}")
        if model not in MODELS_3GPP:
            raise ValueError(f"3GPP {family.upper()} model must be one of A, B, C, D, E, got {model!r}")
        if estimator not in ("perfect", "ls"):
            raise ValueError(f"estimator must be 'perfect' or 'ls', got {estimator!r}")
        check_csi(csi)
        if delay_spread <= 0 or speed < 0 or carrier_frequency <= 0:
            raise ValueError("delay_spread and carrier_frequency must be > 0 and speed >= 0 (SI units: s, m/s, Hz)")
        self.family, self.model, self.delay_spread, self.speed = family, model, delay_spread, speed
        self.carrier_frequency, self.estimator, self.csi, self.clip_db = carrier_frequency, estimator, csi, clip_db
        self.grid, self.power = grid, power
        self.name = f"ofdm-{family}-{model.lower()}"
        self._sionna: dict[str, _ReceiverParts] = {}  # per device

    def describe(self) -> str:
        clip = f",clip_db={self.clip_db:g}" if self.clip_db is not None else ""
        return (f"{self.name}(est={self.estimator},csi={self.csi},ds={self.delay_spread * 1e9:g}ns,"
                f"v={self.speed:g}m/s{clip})")

    def slots(self, k: int) -> int:
        """Slots needed for ``k`` data symbols."""
        return math.ceil(k / self.grid.data_per_slot)

    def overhead(self, k: int, n: int) -> dict:
        """What the radio sends for ``k`` data symbols of an image of ``n`` real values.

        Returns the JSCC BCR ``k / n``, the effective BCR (all REs of all slots plus the cyclic
        prefixes, over ``n``), and the pilot, padding and cyclic-prefix fractions of the sent samples.
        """
        g, slots = self.grid, self.slots(k)
        res = slots * g.symbols * g.fft_size
        samples = slots * g.symbols * (g.fft_size + g.cyclic_prefix)
        pilots = slots * len(set(g.pilot_symbols)) * g.fft_size
        return {"bcr": k / n, "effective_bcr": samples / n, "pilot_fraction": pilots / samples,
                "padding_fraction": (slots * g.data_per_slot - k) / samples,
                "cyclic_prefix_fraction": (samples - res) / samples}

    # ------------------------------------------------------------------ Sionna parts

    def _parts(self, device: torch.device) -> _ReceiverParts:
        key = str(device)
        if key not in self._sionna:
            from sionna.phy.channel import GenerateOFDMChannel
            from sionna.phy.channel.tr38901 import CDL, TDL, AntennaArray
            from sionna.phy.ofdm import LSChannelEstimator, ResourceGrid, ResourceGridMapper

            from sionna.phy import config

            g = self.grid
            config.torch_rng(key).manual_seed(0)  # Sionna draws the QPSK pilots: the same pilots in every process
            rg = ResourceGrid(num_ofdm_symbols=g.symbols, fft_size=g.fft_size, subcarrier_spacing=g.subcarrier_spacing,
                              num_tx=1, num_streams_per_tx=1, cyclic_prefix_length=g.cyclic_prefix,
                              pilot_pattern="kronecker", pilot_ofdm_symbol_indices=list(g.pilot_symbols), device=key)
            if self.family == "tdl":
                cir = TDL(self.model, delay_spread=self.delay_spread, carrier_frequency=self.carrier_frequency,
                          min_speed=self.speed, max_speed=self.speed, device=key)
            else:
                array = dict(num_rows=1, num_cols=1, polarization="single", polarization_type="V",
                             antenna_pattern="omni", carrier_frequency=self.carrier_frequency, device=key)
                cir = CDL(self.model, self.delay_spread, self.carrier_frequency, AntennaArray(**array),
                          AntennaArray(**array), "uplink", min_speed=self.speed, max_speed=self.speed, device=key)
            generate = GenerateOFDMChannel(cir, rg, normalize_channel=True, device=key)
            estimate = LSChannelEstimator(rg, interpolation_type="lin", device=key)
            mask = torch.as_tensor(rg.pilot_pattern.mask).reshape(g.symbols, g.fft_size).to(key)
            pilot_grid = ResourceGridMapper(rg, device=key)(torch.zeros(1, 1, 1, g.data_per_slot, dtype=torch.complex64,
                                                                            device=key)).reshape(g.symbols, g.fft_size)
            data_index = torch.nonzero(mask.reshape(-1) == 0).squeeze(1)
            error_gain = _ls_error_gain(estimate, pilot_grid, mask)
            self._sionna[key] = _ReceiverParts(generate, estimate, pilot_grid, data_index, error_gain)
        return self._sionna[key]

    @staticmethod
    def _seed_sionna(device: torch.device, generator: torch.Generator | None) -> None:
        """Seed Sionna's generator from ``generator`` (or torch's global one): draws repeat with a seed."""
        from sionna.phy import config

        seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device if generator else "cpu"))
        config.torch_rng(str(device)).manual_seed(seed)

    def draw_response(self, slots: int, device: torch.device, *, generator: torch.Generator | None = None) -> Tensor:
        """Channel frequency responses ``[slots, symbols, fft_size]`` complex, ``E|H|^2 = 1`` per RE."""
        generate = self._parts(device).generate
        self._seed_sionna(device, generator)
        return generate(slots).reshape(slots, self.grid.symbols, self.grid.fft_size)

    def transmit_grid(self, z: Tensor) -> Tensor:
        """Frequency-domain grids ``[B, S, symbols, fft_size]``: data, zero padding and pilots."""
        parts = self._parts(z.device)
        pilot_grid, data_index = parts.pilot_grid, parts.data_index
        g, batch, slots = self.grid, z.shape[0], self.slots(z.shape[1])
        data = torch.nn.functional.pad(z, (0, slots * g.data_per_slot - z.shape[1])).reshape(batch, slots, -1)
        flat = pilot_grid.reshape(1, 1, -1).expand(batch, slots, -1).clone()
        flat[:, :, data_index] = data.to(flat.dtype)
        x = flat.reshape(batch, slots, g.symbols, g.fft_size)
        return x if self.clip_db is None else self._clip(x)

    def waveform(self, x: Tensor) -> Tensor:
        """Time-domain OFDM samples of grids ``x [..., symbols, fft_size]`` (unitary IFFT, no CP)."""
        return torch.fft.ifft(torch.fft.ifftshift(x, dim=-1), dim=-1, norm="ortho")

    def _clip(self, x: Tensor) -> Tensor:
        t = self.waveform(x)
        t = Clip(self.clip_db)(t.reshape(t.shape[0], -1)).reshape(t.shape)  # the same limiter as the clip stage
        return torch.fft.fftshift(torch.fft.fft(t, dim=-1, norm="ortho"), dim=-1)

    def papr_db(self, z: Tensor) -> Tensor:
        """PAPR of each image's transmitted OFDM waveform (after clipping, if any), dB ``[B]``."""
        self._check(z)
        return papr_db(self.waveform(self.transmit_grid(z)))

    def estimate(self, y: Tensor, sigma2: Tensor) -> tuple[Tensor, Tensor]:
        """LS estimate of ``H`` from received grids ``y [B, S, symbols, fft]`` with noise variance
        ``sigma2`` (broadcastable to ``[B, 1, 1, 1]``): ``H^ = Y_p / p`` at the pilots, linearly
        interpolated over the grid (Sionna). Returns ``H^`` and its error variance, both ``y``'s shape.
        """
        batch, slots = y.shape[:2]
        parts = self._parts(y.device)
        no = torch.as_tensor(sigma2, device=y.device).expand(batch, slots, 1, 1)
        h_hat, _ = parts.estimate(y.reshape(batch * slots, 1, 1, *y.shape[2:]), no.reshape(-1, 1, 1))
        return h_hat.reshape(y.shape), no * parts.error_gain  # Sionna's interpolated variance is exact only at the pilots

    def _receive(self, z: Tensor, snr_db, h: Tensor | None, generator) -> tuple[Tensor, Tensor | None, Tensor, Tensor]:
        """Send ``z [B, k]`` over the grid: ``(Y, H^, e, sigma^2)`` with ``Y, H^ [B, S, symbols, fft]``, ``e``
        broadcastable to them (0 for perfect CSI) and ``sigma^2 [B, 1, 1, 1]``; ``H^`` is None for ``csi="none"``."""
        batch = z.shape[0]
        snr = snr_tensor(snr_db, batch, z.device)
        x = self.transmit_grid(z)
        if h is None:
            h = self.draw_response(batch * x.shape[1], z.device, generator=generator).reshape(x.shape)
        sigma2 = noise_variance(snr, self.power).reshape(batch, 1, 1, 1)
        y = h * x + sigma2.sqrt() * _complex_normal(x.shape, generator=generator, device=z.device)
        if self.csi == "none":
            return y, None, torch.zeros((), device=z.device), sigma2
        if self.estimator == "perfect":
            return y, h, torch.zeros((), device=z.device), sigma2
        # Without clipping the pilot REs do not depend on z, so the gradient through the estimate
        # is exactly zero: detaching skips a backward pass through the interpolation (most of the cost;
        # figures: benchmarks/README.md, ofdm_cost.py).
        h_hat, err = self.estimate(y.detach() if self.clip_db is None else y, sigma2)
        return y, h_hat, err, sigma2

    def _data(self, grids: Tensor, k: int) -> Tensor:
        """The ``k`` data REs of each image's grids ``[B, S, symbols, fft]`` -> ``[B, k]``."""
        data_index = self._parts(grids.device).data_index
        return grids.reshape(grids.shape[0], grids.shape[1], -1)[:, :, data_index].reshape(grids.shape[0], -1)[:, :k]

    def forward(
        self, z: Tensor, snr_db: float | Tensor, *, h: Tensor | None = None, generator: torch.Generator | None = None
    ) -> Tensor:
        """``z [B, k]`` complex -> equalised ``[B, k]``; ``h`` optionally fixes ``H [B, S, symbols, fft]``."""
        self._check(z)
        y, h_hat, err, sigma2 = self._receive(z, snr_db, h, generator)
        if h_hat is None:
            out = y
        elif self.csi == "zf":
            out = y * h_hat.conj() / h_hat.abs().square().clamp_min(1e-12)
        else:
            out = y * h_hat.conj() * self.power / (h_hat.abs().square() * self.power + err * self.power + sigma2)
        return self._data(out, z.shape[1])

    def receive_soft(
        self, z: Tensor, snr_db: float | Tensor, *, h: Tensor | None = None, generator: torch.Generator | None = None
    ) -> SoftSymbols:
        """``Y / H^`` at the data REs with noise variance ``(sigma^2 + e P) / |H^|^2`` per RE (module docstring, 5).

        The same draws as :meth:`forward`; ``csi`` (zf or mmse) does not change the result, ``csi="none"`` is
        refused. Clipping distortion (``clip_db``) is not part of the variance.
        """
        self._check(z)
        self._require_coherent()
        y, h_hat, err, sigma2 = self._receive(z, snr_db, h, generator)
        gain = h_hat.abs().square().clamp_min(1e-12)
        variance = (sigma2 + err * self.power) / gain
        k = z.shape[1]
        return SoftSymbols(self._data(y * h_hat.conj() / gain, k), self._data(variance.expand(y.shape), k))


def _ls_error_gain(estimate, pilot_grid: Tensor, mask: Tensor) -> Tensor:
    """``sum_i |w_i|^2 / |p_i|^2`` per RE ``[symbols, fft]``: the LS estimate's error variance over ``sigma^2``.

    The interpolation weights ``w_i`` of pilot ``i`` are read off the estimator itself: a grid that
    holds ``p_i`` at pilot ``i`` and zeros elsewhere has the LS estimate 1 there and 0 at the other
    pilots, so its interpolated estimate is ``w_i`` over the whole grid.
    """
    pilots = torch.nonzero(mask.reshape(-1)).squeeze(1)
    impulses = torch.zeros(len(pilots), mask.numel(), dtype=pilot_grid.dtype, device=pilot_grid.device)
    impulses[torch.arange(len(pilots)), pilots] = pilot_grid.reshape(-1)[pilots]
    no = torch.ones(len(pilots), 1, 1, device=pilot_grid.device)
    weights, _ = estimate(impulses.reshape(len(pilots), 1, 1, *mask.shape), no)
    weights = weights.reshape(len(pilots), *mask.shape)
    inverse_power = 1.0 / pilot_grid.reshape(-1)[pilots].abs().square()
    return (weights.abs().square() * inverse_power.reshape(-1, 1, 1)).sum(0)
