"""Separation schemes: a classical image codec followed by a channel code.

``SeparationScheme(codec, link, bcr)`` sends each image as one file. The image gets
``k = floor(rho * 3 H W)`` complex channel uses (``rho`` the configured BCR). The link
offers one or more operating points (a rate or an MCS) with a byte budget each; the codec
writes the largest file within the budget; the link says which files arrive. An image
whose file does not fit, or does not arrive, is replaced by the **training-set mean image**: the
builder's option ``training_data`` names the data spec (``photos`` by default; commands that
evaluate on ``--data X`` default it to X) and the scheme takes the mean of 2000 of its training
crops at the size of the images it sends (:func:`genjscc.data.training_mean_image`, cached);
for images whose longer side exceeds :data:`MEAN_IMAGE_MAX_SIDE` (256; native-size photographs)
the mean is taken with that longer side and resized bilinearly to H x W (2000 crops at 768 x 768
would need 14 GB; the mean of random crops is a smooth field).
A ``SeparationScheme`` made directly takes ``mean_image`` ``[3, H, W]``, or ``training_data``; with
neither it sends a mid-grey image (0.5).

When the link offers several operating points (LDPC ``mcs="best"``, block-fading capacity
``outage="best"``) the option ``select`` says whose choice it is:

* ``select="batch"`` (the default, what records without the option ran): every operating point
  is run on the whole batch and the one with the best mean PSNR is kept: realised PSNR for
  LDPC, the closed-form expectation over fading for the ideal code. Evaluate with one batch per
  SNR (``batch_size`` >= number of images) for one choice per SNR.
* ``select="image"`` (the literature's "best modulation and code rate per image"): each image
  gets the operating point that gives *it* the highest PSNR, every point seeing the same
  channel seed (the same noise and fading as under ``"batch"``): realised PSNR for LDPC, the
  image's own expected PSNR for the closed-form ideal code (the transmitter knows its image,
  not the fade). An image no point delivers, or whose files all score below the fallback
  image, gets the fallback ("none"). Among points that give an image the same PSNR (the same
  file, when the budget exceeds the codec's largest file), the lower rate is kept: the
  reported choice is the most robust point that delivers the image's best. So no image does
  worse than under any single point, in particular the batch's choice on the same seed. With
  one image per batch (native-size evaluation, images of different sizes) the two differ only
  in ties and in the shortcuts below.
  Exact shortcut: a point is only decoded for the images its file could improve (file PSNR
  above the image's best so far, or equal at a lower rate); a lost file gives the fallback,
  which never improves on the best. The LDPC link then sends nothing through the channel when
  no image is left to decode (every point draws from its own generator seeded alike, so the
  others' noise does not change). The result equals running every point on every image.

With AWGN and the ideal code there is one rate: both selections give the same images.
:attr:`SeparationScheme.choices` records, per (channel, SNR), which point won (per image: the
count of each, and :attr:`Choice.per_image`) and how many images fitted and arrived.
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

__all__ = ["SeparationScheme", "SeparationOptions", "Choice", "build_separation", "SELECTIONS"]

# the fallback image of larger images is the training mean at this longer side, resized (see _mean)
MEAN_IMAGE_MAX_SIDE = 256
SELECTIONS = ("batch", "image")  # whose choice of operating point: the batch's or each image's


@dataclass(frozen=True)
class Choice:
    option: str  # winner, e.g. "16qam-r1/2", "outage 0.1 R=1.234"; "none (all lost)": counts of the largest budget
    budget_bytes: int
    rate: float  # information bits per channel use
    fitted: int  # images whose file fitted the budget
    delivered: int  # images that arrived intact
    total: int
    mean_bytes: float  # mean file size of the fitted images (per image: of the delivered images' files)
    score: float  # mean PSNR used to choose (expected PSNR for closed-form links)
    per_image: tuple[str, ...] = ()  # select="image": each image's point ("none": the fallback image)


class SeparationScheme(Scheme):
    """Codec + channel code at a fixed BCR (see module docstring)."""

    kind = "separation"

    def __init__(self, codec: Codec, link: Link, bcr: str | Fraction, *, mean_image: Tensor | None = None,
                 training_data: str | None = None, select: str = "batch"):
        super().__init__(f"{codec.name}+{link.name}")
        self.codec, self.link = codec, link
        self.rho = parse_bcr(bcr)
        if select not in SELECTIONS:
            raise ValueError(f"select must be one of {', '.join(SELECTIONS)}, got {select!r}")
        self.select = select
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
        if self.select == "image":
            recon, choice = self._per_image(images, mean, mean_psnr, k, channel, snr, seed)
            self.choices[(channel.describe(), snr)] = choice
            return Transmission(recon.to(self.device))
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

    def _per_image(self, images: Tensor, mean: Tensor, mean_psnr: Tensor, k: int, channel: Channel, snr: float,
                   seed: int) -> tuple[Tensor, Choice]:
        """Each image's best operating point (``select="image"``, module docstring)."""
        batch = len(images)
        options = self.link.options(k, channel, snr)
        recon = mean.expand_as(images).clone()
        best = mean_psnr.double().clone()  # the fallback's PSNR: a point must beat it
        best_rate = torch.zeros(batch, dtype=torch.float64)  # the fallback sends nothing: rate 0
        won: list[LinkOption | None] = [None] * batch
        won_bytes = [0] * batch
        delivered = torch.zeros(batch, dtype=torch.bool)  # the winner's file arrived
        fitted_any = torch.zeros(batch, dtype=torch.bool)
        for option in options:
            files = [self.codec.encode(image, option.budget_bytes) for image in images]
            fitted = torch.tensor([f is not None for f in files], dtype=torch.bool)
            if not fitted.any():
                continue
            fitted_any |= fitted
            decoded = torch.stack([self.codec.decode(f, images.shape[-2:]) if f is not None else mean for f in files])
            file_psnr = psnr(decoded, images).double()
            if option.success_probability is not None:  # closed form: the image's expected PSNR decides
                p = option.success_probability
                score = torch.where(fitted, p * file_psnr + (1 - p) * mean_psnr.double(), mean_psnr.double())
            else:  # realised: a delivered file scores its PSNR, a lost one the fallback's (never better)
                score = torch.where(fitted, file_psnr, mean_psnr.double())
            better = fitted & ((score > best) | ((score == best) & (option.rate < best_rate)))
            if not better.any():
                continue  # no image can improve: nothing to decode, no channel draws needed
            g = torch.Generator().manual_seed(seed)
            if option.success_probability is not None:
                arrived = self.link.deliver(option, files, k, channel, snr, generator=g)
            else:  # decode only the images this point could improve (the others' outcome cannot win)
                arrived = self.link.deliver(option, files, k, channel, snr, generator=g, decode=better)
                better = better & arrived
            for i in better.nonzero().flatten().tolist():
                best[i], best_rate[i], won[i], won_bytes[i] = score[i], option.rate, option, len(files[i])
                delivered[i] = bool(arrived[i])
                recon[i] = decoded[i] if delivered[i] else mean
        labels = tuple(o.label if o is not None else "none" for o in won)
        counts: dict[str, int] = {}
        for label in labels:
            counts[label] = counts.get(label, 0) + 1
        order = {o.label: i for i, o in enumerate(options)}
        summary = ", ".join(f"{label} x{n}" for label, n in sorted(counts.items(), key=lambda c: order.get(c[0], 1e9)))
        chosen = [o for o in won if o is not None]
        sizes = [b for b, d in zip(won_bytes, delivered.tolist()) if d]
        choice = Choice(
            option=f"per image: {summary}" if delivered.any() else "none (all lost)",
            budget_bytes=max((o.budget_bytes for o in (chosen or options)), default=0),
            rate=sum(o.rate for o in chosen) / len(chosen) if chosen else 0.0,  # mean over images sent
            fitted=int(fitted_any.sum()),  # images whose file fitted some point
            delivered=int(delivered.sum()),
            total=batch,
            mean_bytes=sum(sizes) / len(sizes) if sizes else 0.0,
            score=best.mean().item(),  # realised PSNR (LDPC) or expected PSNR (closed form), per image
            per_image=labels,
        )
        return recon, choice

    def _mean(self, height: int, width: int) -> Tensor:
        """The fallback image ``[3, H, W]``: the given mean image, else the training mean of ``training_data``
        at H x W, else mid-grey."""
        if self.mean_image is None and self.training_data is not None:
            from genjscc.data.mean_image import training_mean_image

            side = max(height, width)
            if side <= MEAN_IMAGE_MAX_SIDE:
                return training_mean_image(self.training_data, height, width).detach().float().cpu()
            # native-size images: the mean of 2000 crops at 768 x 768 would hold 14 GB; the mean of crops is
            # smooth, so it is taken with the longer side at MEAN_IMAGE_MAX_SIDE and resized (bilinear)
            small = training_mean_image(self.training_data, max(1, round(height * MEAN_IMAGE_MAX_SIDE / side)),
                                        max(1, round(width * MEAN_IMAGE_MAX_SIDE / side)))
            return torch.nn.functional.interpolate(small.detach().float().cpu().unsqueeze(0), size=(height, width),
                                                   mode="bilinear", align_corners=False).squeeze(0).clamp(0, 1)
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
    select: str = scheme_option("batch", help=(
        "with mcs=best or outage=best: batch (the point with the best mean PSNR over the batch) or image (each "
        "image its own best point on the same channel seed, as the literature's best MCS per image)"))
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
                            training_data=options.training_data, select=options.select)
