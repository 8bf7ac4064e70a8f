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
from genjscc.channel.bcr import bcr_to_channels, channels_to_bcr, check_divisible, parse_bcr
from genjscc.channel.flat import AWGN, BlockRayleigh, Equalizer, FastRayleigh

__all__ = [
    "AWGN",
    "BlockRayleigh",
    "FastRayleigh",
    "Equalizer",
    "Channel",
    "SoftSymbols",
    "power_normalize",
    "real_to_complex",
    "complex_to_real",
    "noise_variance",
    "snr_tensor",
    "check_snr",
    "CheckedSNR",
    "check_divisible",
    "sample_snr_db",
    "parse_bcr",
    "bcr_to_channels",
    "channels_to_bcr",
]
