"""``genjscc app``: a local web page that sends a user's image through the chosen schemes.

A person uploads an image or picks a held-out photo, chooses schemes, a channel and an SNR,
and sees each reconstruction beside the original with PSNR, MS-SSIM and LPIPS; a curve over
SNR is drawn with :func:`genjscc.evaluation.plots.plot_records` (the code behind ``genjscc plot``). The
app talks to schemes and channels only, as ``genjscc transmit`` does.

Modules: :mod:`.choices` (what the page offers, from the registries), :mod:`.work` (image
preparation, sending, scoring, curves), :mod:`.forms` (a request checked), :mod:`.jobs`
(queued work with progress and cancel), :mod:`.server` (standard-library HTTP server and the
page in ``static/``).
"""

from genjscc.app.server import AppServer, make_server

__all__ = ["AppServer", "make_server"]
