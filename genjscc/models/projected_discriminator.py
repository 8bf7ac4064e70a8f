"""A discriminator on frozen ImageNet AlexNet features, in the spirit of Projected GAN.

Projected GAN (Sauer et al., NeurIPS 2021) and Vision-aided GAN (Kumari et al., CVPR 2022)
let the discriminator judge images in the feature space of a frozen, pretrained network;
both report that GANs then converge many times faster on small data. This module is our own
small version of that idea (no code from either project):

1. images ``[N, 3, R, R]`` in the generator's [-1, 1] convention are resized bilinearly to
   ``input_size`` (128 by default: AlexNet's first conv has stride 4, so 32² inputs would leave
   almost nothing for the deeper layers) and normalised as torchvision ImageNet nets expect
   (``(x - mean) / std`` with mean ``[.485, .456, .406]``, std ``[.229, .224, .225]`` on [0, 1]);
2. the frozen AlexNet of LPIPS (torchvision ImageNet conv1..conv5, loaded offline by
   :func:`genjscc.layers.imagenet.imagenet_backbone`) gives the ReLU outputs of conv1, conv2 and
   conv5 (``taps``), i.e. 31², 15² and 7² maps at 128² input;
3. each level is scaled by a fixed constant (so that real crops give features of about unit
   RMS) and mixed by a fixed random 1x1 projection to ``proj_channels`` channels (Projected
   GAN's "cross-channel mixing", not trained, kept as a persistent buffer so that resume sees
   the same projection);
4. a small trainable head per level (equalised-lr 3x3 conv, lrelu, 3x3 conv with stride-2
   FIR down-sampling where the map is larger than 8², lrelu, 1x1 conv to one logit) gives a
   logit map; the logits are the sum over levels of each map's spatial mean, shape ``[N]``,
   so the usual non-saturating logistic loss applies unchanged.

Only the heads are parameters. The backbone lives in non-persistent buffers
(:func:`genjscc.layers.imagenet.imagenet_backbone`): it has no gradients, is moved by ``.to``,
and is never written into a ``state_dict`` or a checkpoint.

For training, :meth:`features` (frozen part, differentiable with respect to the image so
that the generator gets gradients through it) and :meth:`logits` (trainable heads) are
separate, so that the discriminator step can run the backbone without autograd and apply R1
to the heads' inputs (see :class:`genjscc.train.stylegan2.StyleGAN2Module`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genjscc.layers.imagenet import backbone_layout, imagenet_backbone
from genjscc.models.stylegan2.ops import Conv2dLayer

__all__ = ["ProjectedDiscriminator", "ProjectedDiscriminatorConfig", "DISCRIMINATORS"]

DISCRIMINATORS = ("plain", "projected-alex")

_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)
# indices into the torchvision AlexNet `features` layout: ReLU after conv1 .. conv5 are 1, 4, 7, 9, 11
_ALEX_RELU = {1: 1, 2: 4, 3: 7, 4: 9, 5: 11}


@dataclass
class ProjectedDiscriminatorConfig:
    img_resolution: int = 32
    backbone: str = "alex"
    input_size: int = 128               # images are resized to this side before the backbone
    taps: tuple = (1, 2, 5)             # AlexNet ReLU levels (conv1..conv5) that get a head
    proj_channels: int = 64             # channels after the fixed random 1x1 projection
    head_channels: int = 64             # channels of the trainable heads
    feature_scale: tuple = field(default_factory=lambda: (1.0, 0.64, 1.36))  # per tap: ~unit RMS on real crops
    projection_seed: int = 0
    kind: str = "projected-alex"

    def to_dict(self) -> dict:
        d = asdict(self)
        d["taps"], d["feature_scale"] = list(self.taps), list(self.feature_scale)
        return d


class _Head(nn.Module):
    """Trainable logits head on one feature level: ``[N, C, h, w]`` -> logit map ``[N, 1, h', w']``."""

    def __init__(self, in_channels: int, channels: int, size: int):
        super().__init__()
        self.conv0 = Conv2dLayer(in_channels, channels, 3, activation="lrelu")
        self.conv1 = Conv2dLayer(channels, channels, 3, activation="lrelu", down=2 if size > 8 else 1)
        self.out = Conv2dLayer(channels, 1, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.out(self.conv1(self.conv0(x)))


class ProjectedDiscriminator(nn.Module):
    """Images ``[N, 3, R, R]`` in [-1, 1] -> logits ``[N]`` from frozen AlexNet features + trainable heads."""

    def __init__(self, config: ProjectedDiscriminatorConfig | dict | None = None, **overrides):
        super().__init__()
        if isinstance(config, dict):
            config = ProjectedDiscriminatorConfig(**{k: v for k, v in config.items()})
        base = asdict(config or ProjectedDiscriminatorConfig())
        self.config = c = ProjectedDiscriminatorConfig(**{**base, **overrides})
        c.taps, c.feature_scale = tuple(c.taps), tuple(c.feature_scale)
        if c.backbone != "alex":
            raise ValueError(f"projected discriminator backbone must be 'alex', got {c.backbone!r}")
        if not c.taps or any(t not in _ALEX_RELU for t in c.taps) or list(c.taps) != sorted(set(c.taps)):
            raise ValueError(f"taps must be increasing AlexNet levels among 1..5, got {c.taps}")
        if len(c.feature_scale) != len(c.taps):
            raise ValueError(f"feature_scale needs one value per tap, got {c.feature_scale} for taps {c.taps}")
        if c.input_size < 64:
            raise ValueError(f"input_size must be at least 64 for AlexNet, got {c.input_size}")
        layout = backbone_layout("alex")
        self._tap_index = [_ALEX_RELU[t] for t in c.taps]
        # frozen backbone: weights are non-persistent buffers (never in state_dict, moved by .to)
        self.backbone = imagenet_backbone("alex", up_to=self._tap_index[-1])
        self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        widths = [[e for e in layout[:i] if e[0] == "conv"][-1][2] for i in self._tap_index]
        sizes = [self._feature_sizes(c.input_size)[t - 1] for t in c.taps]
        # fixed random 1x1 channel projections (persistent, small, reproducible from the seed)
        g = torch.Generator().manual_seed(c.projection_seed)
        for k, width in enumerate(widths):
            proj = torch.randn(c.proj_channels, width, 1, 1, generator=g) * (c.feature_scale[k] / math.sqrt(width))
            self.register_buffer(f"proj{k}", proj)
        self.heads = nn.ModuleList(_Head(c.proj_channels, c.head_channels, s) for s in sizes)
        self.backbone.requires_grad_(False)
        self.backbone.eval()

    @staticmethod
    def _feature_sizes(side: int) -> list[int]:
        # AlexNet geometry: conv1 k11 s4 p2, pool k3 s2, conv2 same size, pool k3 s2, conv3-5 same size
        s1 = (side + 4 - 11) // 4 + 1
        s2 = (s1 - 3) // 2 + 1
        s3 = (s2 - 3) // 2 + 1
        return [{1: s1, 2: s2}.get(t, s3) for t in (1, 2, 3, 4, 5)]

    def train(self, mode: bool = True):
        super().train(mode)
        self.backbone.eval()  # no dropout/batch norm in it, but keep the contract: always eval
        return self

    def features(self, img: Tensor) -> list[Tensor]:
        """Frozen part: the projected feature maps (the heads' inputs) of images in [-1, 1].

        Differentiable with respect to ``img`` (the generator step needs that); call it under
        ``torch.no_grad()`` where only the heads train.
        """
        c = self.config
        x = img.to(self.mean.dtype)
        if x.shape[-1] != c.input_size or x.shape[-2] != c.input_size:
            x = F.interpolate(x, size=(c.input_size, c.input_size), mode="bilinear", align_corners=False)
        x = ((x + 1) / 2 - self.mean) / self.std
        out, taps = [], set(self._tap_index)
        for index, layer in enumerate(self.backbone):
            x = layer(x)
            if index in taps:
                out.append(F.conv2d(x, getattr(self, f"proj{len(out)}")))
        return out

    def logits(self, features: list[Tensor]) -> Tensor:
        """Trainable part: per-level logit maps, spatially averaged and summed -> ``[N]``."""
        return sum(head(f).mean(dim=(1, 2, 3)) for head, f in zip(self.heads, features))

    def forward(self, img: Tensor) -> Tensor:
        return self.logits(self.features(img))
