"""Schemes: every way of sending an image, behind one call.

``scheme.transmit(images [B, 3, H, W] in [0, 1], channel, snr_db) -> reconstructions`` of the
same shape in [0, 1]. Evaluation, the demo and the CLI only talk to schemes.

One registry, :data:`SCHEMES`, maps a scheme kind to a builder ``build(model, **options)``;
``model`` is the path of a weight file (``None`` for schemes without weights, such as the
separation baselines). :func:`build_scheme` accepts a kind (``"separation"``), a zoo name or
a weight path; for weights the kind is read from the file.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from fractions import Fraction
from pathlib import Path
from typing import Callable

import torch
from torch import Tensor

from genjscc.channel import Channel

__all__ = ["Scheme", "SCHEMES", "register_scheme", "build_scheme", "DeepJSCCScheme"]


class Scheme(ABC):
    """A transmission scheme: images in, reconstructions out, through ``channel`` at ``snr_db``."""

    kind: str = "scheme"

    def __init__(self, label: str):
        self.label = label  # model name used in result records
        self.device = torch.device("cpu")

    @abstractmethod
    def transmit(
        self, images: Tensor, channel: Channel, snr_db: float | Tensor, *, generator: torch.Generator | None = None
    ) -> Tensor:
        """images ``[B, 3, H, W]`` in [0, 1] -> reconstructions ``[B, 3, H, W]`` in [0, 1]."""

    def bcr(self, height: int, width: int) -> Fraction | None:
        """Bandwidth compression ratio k/n at H x W (None when not fixed by the scheme)."""
        return None

    def check_size(self, height: int, width: int) -> None:
        """Raise ``ValueError`` when the scheme cannot send H x W images."""

    def to(self, device: torch.device | str) -> "Scheme":
        self.device = torch.device(device)
        return self


SchemeBuilder = Callable[..., Scheme]
SCHEMES: dict[str, SchemeBuilder] = {}


def register_scheme(kind: str) -> Callable[[SchemeBuilder], SchemeBuilder]:
    def decorate(builder: SchemeBuilder) -> SchemeBuilder:
        if kind in SCHEMES:
            raise ValueError(f"scheme {kind!r} registered twice")
        SCHEMES[kind] = builder
        return builder

    return decorate


def build_scheme(spec: str, **options) -> Scheme:
    """A scheme from a kind (``separation``), a zoo name or a weight path."""
    _load_builtin_schemes()
    if spec in SCHEMES:
        return SCHEMES[spec](None, **options)
    from genjscc.weights import load_weights
    from genjscc.zoo import resolve_model

    path = resolve_model(spec)
    _, meta = load_weights(path)
    kind = meta.get("kind")
    if kind not in SCHEMES:
        raise ValueError(f"{path} holds a {kind!r} model, which is not a transmission scheme ({', '.join(SCHEMES)})")
    return SCHEMES[kind](path, **options)


def _load_builtin_schemes() -> None:
    """Import the modules that register schemes (lazily, so `import genjscc` stays light)."""
    import genjscc.separation  # noqa: F401  registers "separation"


# ----------------------------------------------------------------------------- DeepJSCC


class DeepJSCCScheme(Scheme):
    """A trained :class:`~genjscc.models.deepjscc.DeepJSCC` network."""

    kind = "deepjscc"

    def __init__(self, model, label: str):
        super().__init__(label)
        self.model = model.eval()

    def transmit(self, images, channel, snr_db, *, generator=None):
        with torch.inference_mode():
            return self.model(images.to(self.device), channel, snr_db, generator=generator)

    def bcr(self, height, width):
        return self.model.bcr(height, width)

    def check_size(self, height, width):
        f = self.model.config.downsample
        if height % f or width % f:
            raise ValueError(f"{self.label} sends images whose sides are multiples of {f}; got {height}x{width}")

    def to(self, device):
        super().to(device)
        self.model.to(self.device)
        return self


def load_deepjscc(path: str | Path):
    """Read a DeepJSCC network and its metadata from a weight file."""
    from genjscc.models.deepjscc import DeepJSCC, DeepJSCCConfig
    from genjscc.weights import load_weights

    tensors, meta = load_weights(path, kind="deepjscc")
    model = DeepJSCC(DeepJSCCConfig(**meta["config"]))
    model.load_state_dict(tensors)
    return model, meta


@register_scheme("deepjscc")
def _build_deepjscc(model: Path | None, **options) -> Scheme:
    if model is None:
        raise ValueError("the deepjscc scheme needs trained weights: give a zoo name or a .safetensors path")
    if options:
        raise TypeError(f"deepjscc takes no options, got {sorted(options)}")
    network, _ = load_deepjscc(model)
    return DeepJSCCScheme(network, Path(model).stem)
