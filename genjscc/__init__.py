"""genjscc: generative joint source-channel coding for semantic image transmission.

Layers (imports go downwards only; ``tests/test_layering.py`` checks it with import-linter):
``channel`` and ``metrics`` (leaves), ``layers`` (frozen backbones), ``models`` (DeepJSCC,
StyleGAN2, discriminators; each loads itself), ``separation`` (codecs, channel codes),
``schemes`` (one ``transmit`` call per way of sending an image), ``data``, ``losses``,
``train`` (one run lifecycle), ``evaluate``, ``zoo`` (shipped weights) and the ``genjscc``
command line (``cli``). Base utilities every layer may use: ``atomic``, ``images``,
``safe_pickle``, ``weights``, ``allocator``.

Importing the package applies glibc allocator settings for large tensors
(:mod:`genjscc.allocator`; opt out with ``GENJSCC_NO_MALLOPT=1``).
"""

from genjscc.allocator import tune_allocator as _tune_allocator

__version__ = "0.1.0"

_tune_allocator()
