"""Separation schemes: a classical image codec followed by a channel code.

``SeparationScheme(codec, link, bcr)`` sends each image as one file. The image gets
``k = floor(rho * 3 H W)`` complex channel uses (``rho`` the configured BCR). The link
offers one or more operating points (a rate or an MCS) with a byte budget each; the codec
writes the largest file within the budget; the link says which files arrive. An image
whose file does not fit, or does not arrive, is replaced by the **training-set mean image**: the
builder's option ``training_data`` names the data spec (``photos`` by default; commands that
evaluate on ``--data X`` default it to X) and the scheme takes the mean of 2000 of its training
crops at the size of the images it sends (:func:`genjscc.data.training_mean_image`, cached).
A ``SeparationScheme`` made directly takes ``mean_image`` ``[3, H, W]``, or ``training_data``; with
neither it sends a mid-grey image (0.5).

When the link offers several operating points (LDPC ``mcs="best"``, block-fading capacity
``outage="best"``) every one is run on the whole batch and the one with the best mean PSNR
is kept: realised PSNR for LDPC, the closed-form expectation over fading for the ideal
code. :attr:`SeparationScheme.choices` records, per (channel, SNR), which one won and how
many images fitted and arrived. Evaluate with one batch per SNR (``batch_size`` >= number
of images) for one choice per SNR.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from genjscc.channel import Channel, parse_bcr, snr_tensor
from genjscc.utils.images import check_image_batch
from genjscc.metrics import psnr
from genjscc.schemes.base import Scheme, Transmission, register_scheme
from genjscc.schemes.options import scheme_option

if TYPE_CHECKING:  # the codecs and channel codes load when a separation scheme is built
    from genjscc.separation import Codec, Link, LinkOption

__all__ = ["SeparationScheme", "SeparationOptions", "Choice", "build_separation"]


@dataclass(frozen=True)
class Choice:
    option: str  # winner, e.g. "16qam-r1/2", "outage 0.1 R=1.234"; "none (all lost)": counts of the largest budget
    budget_bytes: int
    rate: float  # information bits per channel use
    fitted: int  # images whose file fitted the budget
    delivered: int  # images that arrived intact
    total: int
    mean_bytes: float  # mean file size of the fitted images
    score: float  # mean PSNR used to choose (expected PSNR for closed-form links)


class SeparationScheme(Scheme):
    """Codec + channel code at a fixed BCR (see module docstring)."""

    kind = "separation"

    def __init__(self, codec: Codec, link: Link, bcr: str | Fraction, *, mean_image: Tensor | None = None,
                 training_data: str | None = None):
        super().__init__(f"{codec.name}+{link.name}")
        self.codec, self.link = codec, link
        self.rho = parse_bcr(bcr)
        if mean_image is not None and (mean_image.dim() != 3 or mean_image.shape[0] != 3):
            raise ValueError(f"the training mean image must be [3, H, W], got {tuple(mean_image.shape)}")
        self.mean_image = mean_image.detach().float().cpu() if mean_image is not None else None
        self.training_data = training_data  # whose training mean is the fallback at each image size
        self.choices: dict[tuple[str, float], Choice] = {}

    @property
    def description(self) -> str:
        return f"{self.codec.description} + {self.link.describe()} at BCR {self.rho}"

    def channel_uses(self, height: int, width: int) -> int:
        """``k = floor(rho 3 H W)`` complex channel uses per image."""
        return math.floor(self.rho * 3 * height * width)

    def bcr(self, height, width):
        return self.rho

    def check_size(self, height, width):
        if self.channel_uses(height, width) < 1:
            raise ValueError(f"BCR {self.rho} leaves no channel use for a {height}x{width} image")

    def transmit(self, images, channel, snr_db, *, generator=None):
        check_image_batch(images)
        batch, _, height, width = images.shape
        snr = _single_snr(snr_db, batch)
        self.check_size(height, width)
        images = images.detach().float().cpu().clamp(0, 1)
        k = self.channel_uses(height, width)
        mean = self._mean(height, width)
        mean_psnr = psnr(mean.expand_as(images), images)
        # one seed for every option: all operating points see the same fading and noise
        seed = int(torch.randint(0, 2**62, (1,), generator=generator).item())
        best = largest = None
        for option in self.link.options(k, channel, snr):
            recon, choice = self._run_option(option, images, mean, mean_psnr, k, channel, snr, seed)
            if best is None or choice.score > best[1].score:
                best = (recon, choice)
            if largest is None or choice.budget_bytes > largest.budget_bytes:
                largest = choice
            all_arrived = choice.fitted and choice.delivered == choice.fitted
            if getattr(self.link, "stop_when_all_arrive", False) and all_arrived:
                break  # options come in decreasing budget: the rest carry smaller files
        recon, choice = best
        if choice.delivered == 0:  # every option gives the mean image: none won; report the largest budget
            choice = replace(largest, option="none (all lost)")
        self.choices[(channel.describe(), snr)] = choice
        return Transmission(recon.to(self.device))

    def _run_option(self, option: LinkOption, images: Tensor, mean: Tensor, mean_psnr: Tensor, k: int,
                    channel: Channel, snr: float, seed: int) -> tuple[Tensor, Choice]:
        files = [self.codec.encode(image, option.budget_bytes) for image in images]
        decoded = torch.stack([self.codec.decode(f, images.shape[-2:]) if f is not None else mean for f in files])
        g = torch.Generator().manual_seed(seed)
        arrived = self.link.deliver(option, files, k, channel, snr, generator=g)
        recon = torch.where(arrived.view(-1, 1, 1, 1), decoded, mean.expand_as(images))
        if option.success_probability is None:
            score = psnr(recon, images).mean().item()
        else:
            p = option.success_probability
            fitted_psnr = psnr(decoded, images)  # = mean_psnr where nothing fitted
            score = (p * fitted_psnr + (1 - p) * mean_psnr).mean().item()
        sizes = [len(f) for f in files if f is not None]
        choice = Choice(
            option.label, option.budget_bytes, option.rate, len(sizes), int(arrived.sum()), len(files),
            sum(sizes) / len(sizes) if sizes else 0.0, score,
        )
        return recon, choice

    def _mean(self, height: int, width: int) -> Tensor:
        """The fallback image ``[3, H, W]``: the given mean image, else the training mean of ``training_data``
        at H x W, else mid-grey."""
        if self.mean_image is None and self.training_data is not None:
            from genjscc.data.mean_image import training_mean_image

            return training_mean_image(self.training_data, height, width).detach().float().cpu()
        if self.mean_image is None:
            return torch.full((3, height, width), 0.5)
        if tuple(self.mean_image.shape) != (3, height, width):
            raise ValueError(f"mean image is {tuple(self.mean_image.shape)}, images are 3x{height}x{width}")
        return self.mean_image


def _single_snr(snr_db: float | Tensor, batch: int) -> float:
    snr = snr_tensor(snr_db, batch)
    if not torch.all(snr == snr[0]):
        raise ValueError("separation schemes choose their rate per SNR: send one SNR per call, not per-image SNRs")
    return float(snr[0])


@dataclass(frozen=True)
class SeparationOptions:
    """Options of the ``separation`` scheme."""

    codec: str | None = scheme_option(None, help="image codec: jpeg, jpeg2000, webp, avif, heif (required)")
    code: str = scheme_option("capacity", help="channel code: capacity (ideal) | ldpc (5G NR LDPC + QAM)")
    bcr: str | None = scheme_option(None, help="bandwidth compression ratio k/n, e.g. 1/48 (required)")
    mcs: str | None = scheme_option(None, help="ldpc: best, or a fixed MCS such as 16qam-r1/2")
    outage: str | float | None = scheme_option(None, help="capacity on block fading: best, average or a probability")
    training_data: str = scheme_option("photos", follows_data=True, help=(
        "data spec whose training mean image (2,000 crops at the sent size) replaces an image whose file does not "
        "fit or is lost; evaluate, grid and sweep default it to the data they evaluate on"))


@register_scheme("separation", SeparationOptions)
def build_separation(model, options: SeparationOptions) -> Scheme:
    """A :class:`SeparationScheme` from :class:`SeparationOptions` (``codec`` and ``bcr`` required)."""
    if model is not None:
        raise ValueError("separation schemes have no weights")
    if options.codec is None or options.bcr is None:
        raise ValueError(
            "the separation scheme needs a codec and a BCR: --set codec=webp (jpeg, jpeg2000, webp, avif, heif) "
            "--set bcr=1/48"
        )
    link_options = {}
    if options.code == "ldpc" and options.mcs is not None:
        link_options["mcs"] = options.mcs
    elif options.code == "capacity" and options.outage is not None:
        link_options["outage"] = options.outage
    elif options.mcs is not None or options.outage is not None:
        raise ValueError("mcs applies to code=ldpc, outage to code=capacity")
    from genjscc.separation import build_codec, build_link

    return SeparationScheme(build_codec(options.codec), build_link(options.code, **link_options), options.bcr,
                            training_data=options.training_data)
