"""The schemes that are one trained network: every :class:`~genjscc.models.base.JSCCModel` kind, one builder.

:data:`NETWORKS` maps a scheme kind (the ``kind`` in the network's weight file) to its model class
(``module:Class``, imported when a network of that kind is first built, so sending with a DeepJSCC
never imports the StyleGAN2 behind GenerativeJSCC);
each kind is registered with a builder that loads the weight file into a
:class:`NetworkScheme` (encoder -> power norm -> channel -> decoder, in
inference mode). A new network kind is one more row here.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from genjscc.schemes.base import Scheme, SchemeBuilder, Transmission, register_scheme
from genjscc.schemes.options import scheme_option
from genjscc.utils.weights import model_label

if TYPE_CHECKING:
    from genjscc.models.base import JSCCModel

__all__ = ["NETWORKS", "NetworkOptions", "NetworkScheme", "network_class", "network_scheme"]

NETWORKS: dict[str, str] = {
    "deepjscc": "genjscc.models.deepjscc:DeepJSCC",  # both backbones, SNR-adaptive or not
    "generative": "genjscc.models.generative_jscc:GenerativeJSCC",  # residual or synthesis decoder
}


@dataclass(frozen=True)
class NetworkOptions:
    """Options of a scheme that is one trained network (deepjscc, generative)."""

    compile: bool = scheme_option(False, help="run the model's networks through torch.compile (pays on large "
                                              "evaluations; changes how it runs, not what it outputs)")


class NetworkScheme(Scheme):
    """A scheme that is one trained network ``model(images, channel, snr_db, generator=g)`` with
    ``model.kind``, ``model.bcr(H, W)`` and ``model.check_size(H, W)`` (a
    :class:`~genjscc.models.base.JSCCModel`: DeepJSCC, GenerativeJSCC), run in inference mode on the
    scheme's device; :func:`network_scheme` builds one for every network kind."""

    def __init__(self, model: torch.nn.Module, label: str, compile: bool = False):
        super().__init__(label)
        self.kind = model.kind
        self.model = model.eval()
        if compile:  # --set compile=true: the model's real-valued networks through torch.compile
            self.model.compile_networks()

    def transmit(self, images, channel, snr_db, *, generator=None):
        with torch.inference_mode():
            return Transmission(self.model(images.to(self.device), channel, snr_db, generator=generator))

    def bcr(self, height, width):
        return self.model.bcr(height, width)

    def check_size(self, height, width):
        self.model.check_size(height, width)

    def to(self, device):
        super().to(device)
        self.model.to(self.device)
        return self


def network_class(kind: str) -> type[JSCCModel]:
    """The model class of network ``kind`` (its module imported now)."""
    module, name = NETWORKS[kind].split(":")
    return getattr(importlib.import_module(module), name)


def network_scheme(kind: str, path: str | Path, *, compile: bool = False) -> NetworkScheme:
    """The scheme of the ``kind`` network in weight file ``path``; ``compile``: its networks through
    ``torch.compile`` (pays on large evaluations). A file of another kind is a ``WeightsError``."""
    scheme = NetworkScheme(network_class(kind).from_weights(path), model_label(path), compile=compile)
    scheme.weight_files = (Path(path),)
    return scheme


def _builder(kind: str) -> SchemeBuilder:
    def build(model: Path | None, options: NetworkOptions) -> Scheme:
        if model is None:
            raise ValueError(f"the {kind} scheme needs trained weights: give a zoo name or a .safetensors path")
        return network_scheme(kind, model, compile=options.compile)

    build.__name__ = build.__qualname__ = f"build_{kind}"
    build.__doc__ = (f"``model``: a {NETWORKS[kind].rpartition(':')[2]} weight file (zoo names are resolved by "
                     ":func:`genjscc.schemes.build_scheme`); ``options.compile``: run its networks through ``torch.compile``.")
    return build


for _kind in NETWORKS:
    register_scheme(_kind, NetworkOptions)(_builder(_kind))
