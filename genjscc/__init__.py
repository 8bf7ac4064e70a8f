"""genjscc: generative joint source-channel coding for semantic image transmission.

Subpackages: ``channel`` (power constraint, AWGN, Rayleigh fading, BCR), ``data``,
``models`` (DeepJSCC, StyleGAN2, GenerativeJSCC), ``metrics``, ``schemes`` (one
``transmit`` call per scheme), ``evaluate``, ``train`` and the ``genjscc`` command line.
"""

__version__ = "0.1.0"
