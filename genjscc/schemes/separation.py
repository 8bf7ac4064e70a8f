"""Separation schemes: a classical image codec followed by a channel code.

``SeparationScheme(codec, link, bcr)`` sends each image as one file. The image gets
``k = floor(rho * 3 H W)`` complex channel uses (``rho`` the configured BCR). The link
offers one or more operating points (a rate or an MCS) with a byte budget each; the codec
writes the largest file within the budget; the link says which files arrive. An image
whose file does not fit, or does not arrive, is replaced by the **training-set mean image**,
which the caller supplies with :meth:`SeparationScheme.use_training_mean` (``genjscc
evaluate`` and ``transmit`` pass the mean of 2000 training crops of the evaluated dataset,
:func:`genjscc.data.training_mean_image`); without one, a mid-grey image (0.5) is used.

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

import torch
from torch import Tensor

from genjscc.channel import Channel, parse_bcr, snr_tensor
from genjscc.utils.images import check_image_batch
from genjscc.metrics import psnr
from genjscc.schemes.base import Scheme, register_scheme
from genjscc.separation import Codec, Link, LinkOption, build_codec, build_link

__all__ = ["SeparationScheme", "Choice", "build_separation"]


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

    def __init__(self, codec: Codec, link: Link, bcr: str | Fraction, *, mean_image: Tensor | None = None):
        super().__init__(f"{codec.name}+{link.name}")
        self.codec, self.link = codec, link
        self.rho = parse_bcr(bcr)
        self.mean_image = mean_image  # [3, H, W]; None: mid-grey (see use_training_mean)
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
        return recon.to(self.device)

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

    def use_training_mean(self, mean_image: Tensor) -> None:
        if mean_image.dim() != 3 or mean_image.shape[0] != 3:
            raise ValueError(f"the training mean image must be [3, H, W], got {tuple(mean_image.shape)}")
        self.mean_image = mean_image.detach().float().cpu()

    def _mean(self, height: int, width: int) -> Tensor:
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


@register_scheme("separation")
def build_separation(
    model, *, codec: str | None = None, code: str = "capacity", bcr: str | None = None,
    mcs: str | None = None, outage: str | float | None = None,
) -> Scheme:
    """Options: ``codec`` (jpeg, jpeg2000, webp, avif, heif), ``bcr`` (k/n, e.g. 1/48),
    ``code`` (capacity | ldpc), ``mcs`` (ldpc: best or e.g. 16qam-r1/2),
    ``outage`` (capacity on block fading: best, average or a probability)."""
    if model is not None:
        raise ValueError("separation schemes have no weights")
    if codec is None or bcr is None:
        raise ValueError(
            "the separation scheme needs a codec and a BCR: --set codec=webp (jpeg, jpeg2000, webp, avif, heif) "
            "--set bcr=1/48"
        )
    link_options = {}
    if code == "ldpc" and mcs is not None:
        link_options["mcs"] = str(mcs)
    elif code == "capacity" and outage is not None:
        link_options["outage"] = outage
    elif mcs is not None or outage is not None:
        raise ValueError("mcs applies to code=ldpc, outage to code=capacity")
    return SeparationScheme(build_codec(str(codec)), build_link(str(code), **link_options), str(bcr))
