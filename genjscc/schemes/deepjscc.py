"""The ``deepjscc`` scheme: a trained :class:`~genjscc.models.deepjscc.DeepJSCC` network."""

from __future__ import annotations

from pathlib import Path

from genjscc.channel import check_divisible
from genjscc.models.deepjscc import DeepJSCC
from genjscc.schemes.base import NetworkScheme, Scheme, parse_flag, register_scheme
from genjscc.utils.weights import model_label

__all__ = ["DeepJSCCScheme"]


class DeepJSCCScheme(NetworkScheme):
    """Encoder -> power norm -> channel -> decoder, in inference mode."""

    kind = "deepjscc"

    def check_size(self, height, width):
        check_divisible(height, width, self.model.config.downsample)


@register_scheme("deepjscc")
def build_deepjscc(model: Path | None, *, compile: bool | str = False) -> Scheme:
    """``model``: a DeepJSCC weight file (zoo names are resolved by :func:`genjscc.schemes.build_scheme`);
    ``compile``: run the encoder and decoder through ``torch.compile`` (pays on large evaluations)."""
    if model is None:
        raise ValueError("the deepjscc scheme needs trained weights: give a zoo name or a .safetensors path")
    scheme = DeepJSCCScheme(DeepJSCC.from_weights(model), model_label(model), compile=parse_flag(compile, "compile"))
    scheme.weight_files = (Path(model),)
    return scheme
