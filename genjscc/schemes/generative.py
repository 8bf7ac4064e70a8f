"""The ``generative`` scheme: a trained :class:`~genjscc.models.generative_jscc.GenerativeJSCC`."""

from __future__ import annotations

from pathlib import Path

from genjscc.models.generative_jscc import GenerativeJSCC
from genjscc.schemes.base import NetworkScheme, Scheme, parse_flag, register_scheme
from genjscc.utils.weights import model_label

__all__ = ["GenerativeScheme"]


class GenerativeScheme(NetworkScheme):
    """Encoder -> power norm -> channel -> head -> StyleGAN2 synthesis, in inference mode."""

    kind = "generative"

    def check_size(self, height, width):
        self.model.check_size(height, width)


@register_scheme("generative")
def build_generative(model: Path | None, *, compile: bool | str = False) -> Scheme:
    """``model``: a GenerativeJSCC weight file (``genjscc train generative``) or zoo name; ``compile``:
    run its networks through ``torch.compile``."""
    if model is None:
        raise ValueError("the generative scheme needs trained weights: give a zoo name or a .safetensors path")
    return GenerativeScheme(GenerativeJSCC.from_weights(model), model_label(model), compile=parse_flag(compile, "compile"))
