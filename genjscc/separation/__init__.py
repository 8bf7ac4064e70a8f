"""Separation baselines: classical image codecs over an ideal code or 5G LDPC + QAM.

Importing this package registers the ``separation`` scheme::

    build_scheme("separation", codec="webp", code="capacity", bcr="1/48")
    build_scheme("separation", codec="heif", code="ldpc", bcr="1/12", mcs="best")

Modules: :mod:`~genjscc.separation.codecs` (JPEG, JPEG 2000, WebP, AVIF, HEIF with rate
control), :mod:`~genjscc.separation.capacity` (ideal code, outage),
:mod:`~genjscc.separation.ldpc` (Sionna 5G NR LDPC + QAM), :mod:`~genjscc.separation.scheme`.
Sionna is imported only when an LDPC link first runs.
"""

from genjscc.separation.capacity import CapacityLink
from genjscc.separation.codecs import CODECS, Codec, build_codec
from genjscc.separation.link import Link, LinkOption
from genjscc.separation.scheme import SeparationScheme, build_link, training_mean_image

__all__ = [
    "CODECS",
    "Codec",
    "build_codec",
    "Link",
    "LinkOption",
    "CapacityLink",
    "SeparationScheme",
    "build_link",
    "training_mean_image",
]
