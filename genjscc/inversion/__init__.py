"""Inverting a StyleGAN2 generator: the ILO solver (:mod:`.ilo`), its latent spaces and projections
(:mod:`.latents`).

``invert(G, observation, ILOSettings(...), forward=A)`` returns the generator images whose
view ``A(G)`` best matches an observation in [0, 1]. The package knows nothing of channels:
an inverse JSCC scheme passes its decoder's output as the observation.
"""

from genjscc.inversion.ilo import ILOSettings, InversionResult, invert, learning_rate
from genjscc.inversion.latents import (
    GaussianProxy,
    gaussian_proxy,
    geocross,
    normalize_noise,
    project_l1_ball,
    project_sphere,
)

__all__ = [
    "ILOSettings",
    "InversionResult",
    "invert",
    "learning_rate",
    "GaussianProxy",
    "gaussian_proxy",
    "geocross",
    "normalize_noise",
    "project_l1_ball",
    "project_sphere",
]
