"""StyleGAN2 in plain PyTorch: networks (:mod:`.networks`), resampling and equalised-lr layers
(:mod:`.ops`) and safe loaders for official files (:mod:`.loaders`).

``load_stylegan2(path)`` reads the project's safetensors, a rosinality ``.pt`` or an NVlabs
``.pkl`` without executing pickled code.
"""

from genjscc.models.stylegan2.loaders import (
    StyleGAN2FormatError,
    UnsafePickleError,
    load_generator_state,
    load_stylegan2,
)
from genjscc.models.stylegan2.networks import (
    Discriminator,
    DiscriminatorConfig,
    Generator,
    GeneratorConfig,
    MappingNetwork,
    SynthesisNetwork,
    fir_filter,
    upfirdn2d,
)

__all__ = [
    "Generator",
    "GeneratorConfig",
    "Discriminator",
    "DiscriminatorConfig",
    "MappingNetwork",
    "SynthesisNetwork",
    "fir_filter",
    "upfirdn2d",
    "load_stylegan2",
    "load_generator_state",
    "StyleGAN2FormatError",
    "UnsafePickleError",
]
