"""The transmission skeleton every JSCC network shares (:class:`JSCCModel`); a model defines only its transforms.

::

    images [B, 3, H, W] in [0, 1] ─► check (shape, size) ─► SNR checked once: snr [B] dB
      ─► reflect-pad to H' x W' = f ceil(H/f) x f ceil(W/f)
      ─► encode_latent(images, snr): latent [B, C, H'/f, W'/f] real
      ─► real → complex: k = C H' W' / (2 f^2) symbols per image ─► power normalisation: mean_j |z_j|^2 = P
      ─► channel(z, snr) ─► complex → real: received latent [B, C, H'/f, W'/f]
      ─► decode_latent(latent, snr): images [B, 3, H', W'] ─► cropped back to [B, 3, H, W]

so the bandwidth compression ratio, counted on the true pixels, is ``rho = k / (3 H W)``: ``C / (6 f^2)``
when f divides both sides, slightly more otherwise (the padding is sent too). Each public entry point
(:meth:`~JSCCModel.forward`, :meth:`~JSCCModel.receive`, :meth:`~JSCCModel.encode`,
:meth:`~JSCCModel.decode`) turns its caller's ``snr_db`` (a float or a tensor ``[B]``) into a checked
:class:`~genjscc.channel.CheckedSNR` once; the transforms and the channel receive it already checked.

A subclass sets ``kind`` (the weight-file kind) and ``config_class`` (a frozen dataclass with at least
``channels`` C, ``downsample`` f and ``power`` P), builds ``self.encoder`` (``x [B, 3, H, W]`` in [-1, 1],
``snr [B]`` -> latent) or overrides :meth:`~JSCCModel.encode_latent`, and defines
:meth:`~JSCCModel.decode_latent`; :meth:`~JSCCModel.check_size` when it takes fewer sizes than any H x W
(GenerativeJSCC takes only its prior's), ``compiled_parts`` when its networks are not ``encoder`` and ``decoder``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from fractions import Fraction
from pathlib import Path
from typing import ClassVar, Protocol, TypeVar

import torch
from torch import Tensor, nn

from genjscc.channel import (
    Channel,
    CheckedSNR,
    channels_to_bcr,
    check_snr,
    latent_grid,
    complex_to_real,
    power_normalize,
    real_to_complex,
)
from genjscc.utils.images import check_image_batch
from genjscc.utils.weights import load_model

__all__ = ["JSCCModel", "JSCCConfig"]

Model = TypeVar("Model", bound="JSCCModel")


class JSCCConfig(Protocol):
    """What the skeleton reads of a model's config."""

    channels: int  # C, real encoder output channels
    downsample: int  # f, the encoder's total stride
    power: float  # P, average power per complex symbol

    def to_dict(self) -> dict: ...


class JSCCModel(nn.Module, ABC):
    """Encoder -> power normalisation -> channel -> decoder (see the module docstring).

    ``forward(images [B, 3, H, W] in [0, 1], channel, snr_db, *, generator)`` returns the reconstructions
    ``[B, 3, H, W]``; ``snr_db`` is a float or a tensor ``[B]`` (dB), ``generator`` seeds the channel.
    """

    kind: ClassVar[str]  # the weight-file kind (``load_weights(path, kind=...)``)
    config_class: ClassVar[type]  # rebuilds the config from a weight file's metadata
    compiled_parts: ClassVar[tuple[str, ...]] = ("encoder", "decoder")  # what compile_networks compiles

    def __init__(self, config: JSCCConfig):
        super().__init__()
        self.config = config

    # -- what a model defines ------------------------------------------------------------------

    def encode_latent(self, images: Tensor, snr: Tensor) -> Tensor:
        """images ``[B, 3, H, W]`` in [0, 1], checked ``snr [B]`` dB -> latent ``[B, C, H/f, W/f]`` real."""
        return self.encoder(images * 2 - 1, snr)

    @abstractmethod
    def decode_latent(self, latent: Tensor, snr: Tensor) -> Tensor:
        """Received latent ``[B, C, H/f, W/f]`` real, checked ``snr [B]`` dB -> images ``[B, 3, H, W]``."""

    def check_size(self, height: int, width: int) -> None:
        """Raise ``ValueError`` unless this model sends H x W images (default: any size; sides that are not
        multiples of f are reflect-padded and cropped back)."""
        latent_grid(height, width, self.config.downsample)

    def pad(self, images: Tensor) -> Tensor:
        """images ``[B, 3, H, W]`` -> ``[B, 3, f ceil(H/f), f ceil(W/f)]``: reflected past the bottom and right
        edges (repeated where a side is shorter than its padding); unchanged when f divides both sides."""
        height, width = images.shape[-2:]
        rows, cols = latent_grid(height, width, self.config.downsample)
        below, right = rows * self.config.downsample - height, cols * self.config.downsample - width
        if not below and not right:
            return images
        mode = "reflect" if below < height and right < width else "replicate"
        return torch.nn.functional.pad(images, (0, right, 0, below), mode=mode)

    # -- the skeleton --------------------------------------------------------------------------

    def check_images(self, images: Tensor) -> None:
        """Raise ``ValueError`` unless ``images`` is ``[B, 3, H, W]`` at a size this model sends."""
        check_image_batch(images)
        self.check_size(images.shape[2], images.shape[3])

    def forward(self, images: Tensor, channel: Channel, snr_db: float | Tensor, *,
                generator: torch.Generator | None = None) -> Tensor:
        """images ``[B, 3, H, W]`` in [0, 1] -> pad -> encoder -> power norm -> ``channel`` -> decoder -> crop
        -> ``[B, 3, H, W]``."""
        height, width = images.shape[-2:]
        return self.decode_latent(*self.receive(images, channel, snr_db, generator=generator))[..., :height, :width]

    def receive(self, images: Tensor, channel: Channel, snr_db: float | Tensor, *,
                generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """images -> pad -> encoder -> power norm -> ``channel`` -> (received latent ``[B, C, ceil(H/f),
        ceil(W/f)]`` real in the networks' dtype, checked ``snr [B]`` dB): everything but the decoder."""
        self.check_images(images)
        snr = check_snr(snr_db, images.shape[0], images.device)
        symbols, shape = self._symbols(images, snr.db)
        return self._latent(channel(symbols, snr, generator=generator), shape), snr.db

    def encode(self, images: Tensor, snr_db: float | Tensor | CheckedSNR = 0.0) -> tuple[Tensor, torch.Size]:
        """images ``[B, 3, H, W]`` in [0, 1] -> (symbols ``[B, k]`` complex with power P per image, latent shape)."""
        self.check_images(images)
        return self._symbols(images, check_snr(snr_db, images.shape[0], images.device).db)

    def decode(self, symbols: Tensor, latent_shape: torch.Size, snr_db: float | Tensor | CheckedSNR = 0.0,
               size: tuple[int, int] | None = None) -> Tensor:
        """Received symbols ``[B, k]`` complex -> images ``[B, 3, f h, f w]`` for a latent grid h x w, cropped to
        ``size`` (H, W) when given (the size :meth:`encode` was called with)."""
        snr = check_snr(snr_db, symbols.shape[0], symbols.device)
        images = self.decode_latent(self._latent(symbols, latent_shape), snr.db)
        return images if size is None else images[..., : size[0], : size[1]]

    def _symbols(self, images: Tensor, snr: Tensor) -> tuple[Tensor, torch.Size]:
        latent = self.encode_latent(self.pad(images), snr)
        return power_normalize(real_to_complex(latent), self.config.power), latent.shape

    def _latent(self, symbols: Tensor, latent_shape: torch.Size) -> Tensor:
        parameter = next(self.parameters(), None)
        latent = complex_to_real(symbols, latent_shape)
        return latent if parameter is None else latent.to(parameter.dtype)

    # -- bandwidth, loading, compiling -----------------------------------------------------------

    def bcr(self, height: int, width: int) -> Fraction:
        """``rho = k / n`` at H x W on the true pixels (:func:`~genjscc.channel.channels_to_bcr`)."""
        return channels_to_bcr(self.config.channels, height, width, self.config.downsample)

    @classmethod
    def from_weights(cls: type[Model], path: str | Path) -> Model:
        """The model (eval mode, ``.metadata`` set) in a project weight file (``.safetensors`` + metadata)."""
        return load_model(path, cls.kind, lambda config: cls(cls.config_class(**config)), cls.__name__)

    def compile_networks(self: Model) -> Model:
        """``torch.compile`` the ``compiled_parts`` in place (:func:`genjscc.utils.compile.compile_forward`);
        the channel's complex maths stays eager (Inductor does not generate code for it)."""
        from genjscc.utils.compile import compile_forward

        for part in self.compiled_parts:
            compile_forward(getattr(self, part), f"{type(self).__name__} {part}")
        return self
