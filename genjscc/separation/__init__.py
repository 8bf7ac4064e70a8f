"""Separation baselines' parts: classical image codecs and channel codes (no scheme logic).

Modules: :mod:`~genjscc.separation.codecs` (JPEG, JPEG 2000, WebP, AVIF, HEIF with rate
control), :mod:`~genjscc.separation.link` (the link interface), :mod:`~genjscc.separation.capacity`
(ideal code, outage), :mod:`~genjscc.separation.ldpc` (Sionna 5G NR LDPC + QAM; Sionna is
imported only when an LDPC link is built). The scheme that joins them is
:class:`genjscc.schemes.separation.SeparationScheme`.
"""

from genjscc.separation.capacity import CapacityLink
from genjscc.separation.codecs import CODECS, Codec, build_codec
from genjscc.separation.link import Link, LinkOption

__all__ = ["CODECS", "Codec", "build_codec", "Link", "LinkOption", "CapacityLink", "LINKS", "build_link"]


def _capacity(**options) -> Link:
    return CapacityLink(**options)


def _ldpc(**options) -> Link:
    from genjscc.separation.ldpc import LDPCLink

    return LDPCLink(**options)


LINKS = {"capacity": _capacity, "ldpc": _ldpc}


def build_link(code: str, **options) -> Link:
    """``capacity`` (options: ``outage``) or ``ldpc`` (options: ``mcs``)."""
    if code not in LINKS:
        raise ValueError(f"unknown code {code!r}; choose one of {', '.join(LINKS)}")
    return LINKS[code](**options)
