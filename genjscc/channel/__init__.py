"""Channels: complex baseband symbols, the per-image power constraint, SNR and BCR arithmetic.

- :mod:`~genjscc.channel.base`: symbols, power normalisation, SNR, the ``Channel`` base class;
- :mod:`~genjscc.channel.flat`: AWGN, block and fast Rayleigh fading (with or without CSI);
- :mod:`~genjscc.channel.bcr`: bandwidth compression ratio arithmetic;
- :mod:`~genjscc.channel.impairments`: Rician fading, phase noise, clipping (composable stages);
- :mod:`~genjscc.channel.ofdm`: OFDM over 3GPP TDL/CDL multipath (Sionna, imported on first use);
- :mod:`~genjscc.channel.registry`: channels by name (``--channel``), ``build_channel``.

This package imports only the first three; the others load when asked for by name.
"""

from genjscc.channel.base import (
    Channel,
    SoftSymbols,
    CheckedSNR,
    check_snr,
    complex_to_real,
    noise_variance,
    power_normalize,
    real_to_complex,
    sample_snr_db,
    snr_tensor,
)
from genjscc.channel.bcr import bcr_to_channels, channels_to_bcr, check_divisible, latent_grid, parse_bcr
from genjscc.channel.flat import AWGN, BlockRayleigh, Equalizer, FastRayleigh

from genjscc.channel import base as _base, bcr as _bcr, flat as _flat  # noqa: E402

__all__ = [*_flat.__all__, *_base.__all__, *_bcr.__all__]
