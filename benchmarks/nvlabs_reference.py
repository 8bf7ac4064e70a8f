"""NVlabs' stylegan2-ada-pytorch as a reference for the benchmarks (a checkout the user gives;
never part of this package, never committed).

Their ``dnnlib`` imports ``requests`` for downloads only, so an empty stand-in is put in its
place; their custom CUDA ops are never built on a CPU (``bias_act`` and ``upfirdn2d`` take their
reference path for CPU tensors, ``conv2d_gradfix`` is off).
"""

from __future__ import annotations

import sys
import types


def nvlabs_classes(path: str):
    """``(Generator, Discriminator)`` classes of the checkout at ``path``."""
    sys.modules.setdefault("requests", types.ModuleType("requests"))
    if path not in sys.path:
        sys.path.insert(0, path)
    from training.networks import Discriminator, Generator

    return Generator, Discriminator


def nvlabs_networks(path: str, size: int, z_dim: int, w_dim: int, mapping_layers: int, channel_base: int,
                    channel_max: int):
    """NVlabs' G and D in genjscc's StyleGAN2 configuration (fp32 everywhere, no conv clamp), train mode."""
    Generator, Discriminator = nvlabs_classes(path)
    kw = dict(channel_base=channel_base, channel_max=channel_max, num_fp16_res=0, conv_clamp=None)
    G = Generator(z_dim=z_dim, c_dim=0, w_dim=w_dim, img_resolution=size, img_channels=3,
                  mapping_kwargs={"num_layers": mapping_layers}, synthesis_kwargs=kw)
    D = Discriminator(c_dim=0, img_resolution=size, img_channels=3, **kw)
    return G.train(), D.train()
