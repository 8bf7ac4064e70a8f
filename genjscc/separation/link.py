"""The channel-code half of a separation scheme: a bit budget and a pass/fail delivery.

A :class:`Link` offers one or more operating points (:class:`LinkOption`: a rate for the
ideal code, an MCS for LDPC + QAM) at a given SNR. For each it states the byte budget that
``k`` complex channel uses allow and, given the files, which images arrive intact. An image
that does not fit or does not arrive is replaced by the mean image (see :mod:`genjscc.schemes.separation`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import torch
from torch import Tensor

from genjscc.channel import Channel

__all__ = ["Link", "LinkOption"]


@dataclass(frozen=True)
class LinkOption:
    label: str  # e.g. "rate=2.06" or "16qam-r1/2"
    budget_bytes: int  # largest file this option carries in k channel uses
    rate: float  # information bits per complex channel use
    success_probability: float | None = None  # known in closed form (ideal code); None: simulate


class Link(ABC):
    """Channel code + modulation for the files of a batch of images."""

    name: str = "link"

    @abstractmethod
    def options(self, k: int, channel: Channel, snr_db: float) -> list[LinkOption]:
        """Operating points to try at ``snr_db`` for ``k`` complex channel uses per image."""

    @abstractmethod
    def deliver(
        self,
        option: LinkOption,
        files: list[bytes | None],
        k: int,
        channel: Channel,
        snr_db: float,
        *,
        generator: torch.Generator | None = None,
        decode: Tensor | None = None,
    ) -> Tensor:
        """Which files arrive intact: ``[B]`` bool (False for ``None`` files).

        ``decode [B]`` bool (None: all): the images whose outcome is wanted; the others may be
        reported as not arrived, and must draw the same channel as if they were decoded (a link
        with a closed-form outcome may ignore it)."""

    def describe(self) -> str:
        return self.name
