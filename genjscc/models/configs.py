"""The StyleGAN2 networks' shapes as plain dataclasses: readable without torch.

The command line builds the architecture flags of ``genjscc train stylegan2`` from these fields
(:mod:`genjscc.train.args`) and must describe them without importing torch, so they live apart
from the networks (:mod:`genjscc.models.stylegan2.networks` re-exports them).
"""

from dataclasses import asdict, dataclass

__all__ = ["GeneratorConfig", "DiscriminatorConfig", "matching_discriminator"]


@dataclass
class GeneratorConfig:
    img_resolution: int = 64        # output side, a power of two >= 4
    z_dim: int = 512                # input latent size
    w_dim: int = 512                # intermediate latent (style) size
    img_channels: int = 3
    mapping_layers: int = 8         # depth of the mapping network
    mapping_lr_multiplier: float = 0.01  # equalised-lr multiplier of the mapping network
    channel_base: int = 32768       # channels at resolution r: min(channel_base // r, channel_max)
    channel_max: int = 512
    conv_clamp: float | None = None  # clamp conv outputs to ±X (official configs: 256)
    w_avg_beta: float = 0.995       # decay of the tracked w average during training

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class DiscriminatorConfig:
    img_resolution: int = 64
    img_channels: int = 3
    channel_base: int = 32768
    channel_max: int = 512
    mbstd_group_size: int = 4       # minibatch-stddev group size
    mbstd_num_channels: int = 1
    conv_clamp: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def matching_discriminator(generator: GeneratorConfig | dict) -> DiscriminatorConfig:
    """The StyleGAN2 discriminator for a generator's images: its resolution and channel widths."""
    g = GeneratorConfig(**generator) if isinstance(generator, dict) else generator
    return DiscriminatorConfig(img_resolution=g.img_resolution, channel_base=g.channel_base, channel_max=g.channel_max)
