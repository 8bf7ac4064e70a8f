"""The ``deepjscc`` scheme: a trained :class:`~genjscc.models.deepjscc.DeepJSCC` network."""

from __future__ import annotations

from pathlib import Path

import torch

from genjscc.channel import check_divisible
from genjscc.models.deepjscc import DeepJSCC
from genjscc.schemes.base import Scheme, register_scheme

__all__ = ["DeepJSCCScheme"]


class DeepJSCCScheme(Scheme):
    """Encoder -> power norm -> channel -> decoder, in inference mode."""

    kind = "deepjscc"

    def __init__(self, model: DeepJSCC, label: str):
        super().__init__(label)
        self.model = model.eval()

    def transmit(self, images, channel, snr_db, *, generator=None):
        with torch.inference_mode():
            return self.model(images.to(self.device), channel, snr_db, generator=generator)

    def bcr(self, height, width):
        return self.model.bcr(height, width)

    def check_size(self, height, width):
        check_divisible(height, width, self.model.config.downsample)

    def to(self, device):
        super().to(device)
        self.model.to(self.device)
        return self


@register_scheme("deepjscc")
def build_deepjscc(model: Path | None) -> Scheme:
    """``model``: a DeepJSCC weight file (zoo names are resolved by :func:`genjscc.schemes.build_scheme`)."""
    if model is None:
        raise ValueError("the deepjscc scheme needs trained weights: give a zoo name or a .safetensors path")
    return DeepJSCCScheme(DeepJSCC.from_weights(model), Path(model).stem)
