"""genjscc: generative joint source-channel coding for semantic image transmission.

Packages, in layers (a package imports only those below it; ``tests/test_layering.py`` checks the
one ordered import-linter contract in ``pyproject.toml``)::

    cli                            the ``genjscc`` command line
    app                            the local web page (``genjscc app``)
    evaluation                     schemes over SNRs -> records, sweeps, figures
    train | schemes                one run lifecycle per network | one ``transmit`` per way of sending
    data | inversion | separation  datasets by spec | ILO solver | codecs and channel codes
    models | metrics               networks (each loads itself) | PSNR, SSIM, LPIPS, FID
    layers                         GDN, attention, frozen ImageNet backbones
    channel | zoo                  channels, power, SNR, BCR | shipped weights
    utils                          atomic files, images, weight files, caches

Importing the package changes nothing in the process; the command line applies glibc allocator
settings for large tensors (:func:`genjscc.utils.allocator.tune_allocator`).
"""

__version__ = "0.1.0"
