r"""InverseJSCC's consistency test: does the prior's image explain what arrived, and how much of it to send?

After the solve the receiver has the symbols it received ỹ ``[k]`` (complex, after the channel's
equaliser), the DeepJSCC output x̂ = D(ỹ) and the prior image G. Write E for the DeepJSCC encoder
with its power normalisation (no channel). If G is (close to) the image that was sent, ỹ is E(G)
plus channel noise; if the sent image is one the prior cannot make, G is another picture and E(G)
is further from ỹ than the noise explains. The default statistic (``statistic="likelihood"``)
compares G with the receiver's other candidate, x̂, on the symbols themselves:

.. math::

    L = \frac{1}{k}\lVert \tilde y - E(G) \rVert^2 - \frac{1}{k}\lVert \tilde y - E(\hat x) \rVert^2,

σ² times the log-likelihood ratio of x̂ against G under complex AWGN of variance σ² per symbol
(lower: G explains ỹ better). The image goes out as a per-image blend of Δ = G − x̂, split in two
bands by a Gaussian blur B of σ = ``lowpass`` × the image side (3/128: 1.5 px at 64×64):

.. math::

    \text{out} = \operatorname{clip}_{[0,1]}\big(\hat x + s\,\alpha\,B\Delta + \alpha\,(\Delta - B\Delta)\big),
    \qquad \alpha = b \, P^{\gamma}, \qquad P = 1 - \hat F(L),

where F̂ is the empirical distribution function (piecewise linear, (i − ½)/m at the i-th smallest
value, 0 below the smallest and 1 above the largest) of L over ``m`` images sampled from the prior
(truncation ψ, seeds from :data:`CALIBRATION_SEED_OFFSET`) sent through the same DeepJSCC, channel
and SNR and solved with the same settings. P is the in-range p-value of L: about uniform on
[0, 1] for images the prior can make, near 0 for images whose G explains ỹ worse than G does for
any prior sample (α = 0 above the largest calibration value). ``b`` = ``blend`` is the most of G's
detail ever sent, γ = ``power`` shapes the weight (γ < 1 keeps most of G for typical prior images)
and s = ``low_share`` is the part of that weight the coarse band gets. With ``quantile`` q set the
test is hard instead: α = b where L is at most the q-quantile τ_q of the calibration values, 0
elsewhere.

Why a soft weight, and less of G's coarse band than of its detail (measured on cached solves of all
93 held-out photo crops and 128 in-range images, ``benchmarks/inverse_decision_rules.py``; README,
InverseJSCC): at −5 dB the channel noise hides much of the difference between a photo's G and the
photo, so no statistic the receiver has separates photos from prior images well (AUC at most 0.79
at 1/48 and 0.84 at 1/192 over 13 candidates and their pairs; 0.94–1.00 for L at 0 and 5 dB), and
a photo's G loses 1–4 dB PSNR. Most of that loss is in G's coarse band (another picture); its finest
detail (below about σ = 1.5 px) lowers LPIPS even on photos, while the band between holds most of
G's in-range gain and, on photos, structure that is not there. The defaults (σ = 3/128 of the side,
s = ¼, b = 1, γ = ⅓) keep photos at DeepJSCC's PSNR and LPIPS at −5, 0 and 5 dB (1/48 and 1/192)
and keep 70–84 % of the in-range LPIPS gain at −5 and 0 dB; ``lowpass=3/64, low_share=0.5`` keeps 87 % but
raises the photos' LPIPS by 0.008; no (σ, s, b, γ) scanned met both at −5 dB (at most 73 % in range
with photos not worse).

``statistic="reencoding"`` with ``quantile=0.9``, ``blend=1``, ``low_share=1`` is the earliest rule: with D₀ the
DeepJSCC without channel noise,

.. math::

    R = \frac{\operatorname{MSE}(D_0(G), \hat x)}{\operatorname{MSE}(D_0(\hat x), \hat x) + 10^{-8}};

on held-out photos at 1/48, −5 dB it let 69 % of the photos through (they lost 1.2 dB).

Only the prior, the DeepJSCC, the channel model and the SNR enter the calibration: the receiver
knows all of them and never sees a test image. The m values of the statistic are computed once per
(prior, DeepJSCC, solver settings, channel, SNR, statistic, m, ψ) and kept in the cache folder
(:func:`genjscc.utils.cache.cache_dir`) under a key made of the SHA-256 of the prior's and the
DeepJSCC's weights and every other input, so a changed prior or DeepJSCC (or any setting) gives a
new calibration and an unchanged one is read back. The weight (b, γ, q) is applied when the file
is read, so changing it costs nothing.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import Tensor, nn

from genjscc.utils.atomic import atomic_write_text
from genjscc.utils.cache import cache_dir
from genjscc.utils.filters import gaussian_blur
from genjscc.models.stylegan2.sampling import DEFAULT_TRUNCATION, sample_images

__all__ = ["ConsistencyTest", "STATISTICS", "CALIBRATION_SEED_OFFSET", "weights_hash", "reencoding_ratio",
           "likelihood_gap", "calibration_statistics", "blend_images", "threshold", "in_range_pvalue", "blend_weights"]

CALIBRATION_SEED_OFFSET = 2**41  # above every training (< 2^40) and test (2^40 + i) seed of prior:NAME data
CALIBRATION_VERSION = 3  # bump when the calibration procedure changes: old files stop matching
STATISTICS = ("likelihood", "reencoding")


@dataclass(frozen=True)
class ConsistencyTest:
    """``statistic`` L (``"likelihood"``) or R (``"reencoding"``); the weight α = ``blend`` · P^``power`` of G
    (P the in-range p-value of the statistic), or with ``quantile`` q a hard test (α = ``blend`` where the
    statistic is at most its q-quantile on prior images, else 0); the low band (Gaussian σ = ``lowpass`` ×
    image side) gets ``low_share`` · α; ``samples`` m prior images per (channel, SNR); ``truncation`` ψ of
    those samples; ``batch`` images per calibration solve.
    ``ConsistencyTest(statistic="reencoding", quantile=0.9, blend=1, low_share=1)`` is the earlier hard test,
    ``ConsistencyTest(blend=0.85, low_share=1)`` the first soft weight."""

    statistic: str = "likelihood"
    blend: float = 1.0
    power: float = 1 / 3
    quantile: float | None = None
    lowpass: float = 3 / 128
    low_share: float = 0.25
    samples: int = 64
    truncation: float = DEFAULT_TRUNCATION
    batch: int = 16

    def __post_init__(self):
        if self.statistic not in STATISTICS:
            raise ValueError(f"consistency_statistic must be one of {', '.join(STATISTICS)}, got {self.statistic!r}")
        if not 0 < self.blend <= 1:
            raise ValueError(f"consistency_blend must be in (0, 1] (the most of G sent: x̂ + b (G - x̂)), "
                             f"got {self.blend}")
        if not self.power > 0:
            raise ValueError(f"consistency_power must be > 0 (α = blend · p-value^power), got {self.power}")
        if self.quantile is not None and not 0 < self.quantile <= 1:
            raise ValueError(f"consistency_quantile must be in (0, 1], got {self.quantile}: e.g. 0.9 sends G where "
                             "the statistic is at most 90 % of its values on prior images (a hard test)")
        if not 0 <= self.lowpass < 0.25:
            raise ValueError(f"consistency_lowpass must be in [0, 0.25) (the low band's Gaussian σ as a fraction of the "
                             f"image side; 0: no split), got {self.lowpass}")
        if not 0 <= self.low_share <= 1:
            raise ValueError(f"consistency_low_share must be in [0, 1] (the low band gets low_share · α of G; 1: one "
                             f"weight for every frequency), got {self.low_share}")
        if self.samples < 2:
            raise ValueError(f"consistency_samples must be >= 2 (prior images per SNR), got {self.samples}")
        if not 0 < self.truncation <= 1:
            raise ValueError(f"consistency_truncation must be in (0, 1], got {self.truncation}")
        if self.batch < 1:
            raise ValueError(f"the calibration batch must be >= 1, got {self.batch}")


def weights_hash(module: nn.Module) -> str:
    """SHA-256 of a module's state dict (names, dtypes, shapes and bytes of every tensor)."""
    digest = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)};".encode())
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def _mse(a: Tensor, b: Tensor) -> Tensor:
    return (a.float() - b.float()).square().flatten(1).mean(dim=1)


def reencoding_ratio(reencode: Callable[[Tensor], Tensor], candidates: Tensor, observed: Tensor) -> Tensor:
    """``R [N]`` for candidates G and DeepJSCC outputs x̂ ``[N, 3, H, W]`` in [0, 1]; ``reencode`` is D₀."""
    observed = observed.to(candidates.device)
    return _mse(reencode(candidates), observed) / (_mse(reencode(observed), observed) + 1e-8)


def likelihood_gap(encode: Callable[[Tensor], Tensor], candidates: Tensor, observed: Tensor,
                   received: Tensor) -> Tensor:
    """``L [N]`` = mean |ỹ − E(G)|² − mean |ỹ − E(x̂)|² over the k symbols, for candidates G and DeepJSCC
    outputs x̂ ``[N, 3, H, W]`` in [0, 1] and received symbols ỹ ``[N, k]`` (complex); ``encode`` is E
    (images to power-normalised symbols ``[N, k]``), in units of the symbol power."""
    received = received.to(candidates.device)

    def residual(images: Tensor) -> Tensor:
        return (received - encode(images.to(candidates.device))).abs().square().float().mean(dim=1)

    return residual(candidates) - residual(observed)


def in_range_pvalue(statistic: Tensor, calibration: Tensor) -> Tensor:
    """P ``[N]`` = 1 − F̂(statistic), F̂ the piecewise-linear empirical distribution function of the ``m``
    calibration values (``(i − ½)/m`` at the i-th smallest, 0 below the smallest, 1 above the largest)."""
    values = calibration.double().flatten().sort().values
    m = values.numel()
    levels = (torch.arange(m, dtype=torch.float64) + 0.5) / m
    s = statistic.double().cpu()
    right = torch.searchsorted(values, s).clamp(1, m - 1)
    low, high = values[right - 1], values[right]
    t = ((s - low) / (high - low).clamp_min(1e-300)).clamp(0, 1)
    cdf = levels[right - 1] + t * (levels[right] - levels[right - 1])
    cdf = torch.where(s < values[0], 0.0, torch.where(s > values[-1], 1.0, cdf))
    return (1 - cdf).float()


def blend_images(observed: Tensor, candidates: Tensor, weight: Tensor, test: ConsistencyTest) -> Tensor:
    r"""The sent images ``[N, 3, H, W]`` in [0, 1]: x̂ ``observed`` plus the share of the difference Δ = G − x̂
    (G ``candidates``) given by α ``weight [N]``, split in two bands with B the Gaussian blur of
    σ = ``test.lowpass`` · min(H, W) px, radius ⌈3σ⌉:

    .. math::

        \text{out} = \operatorname{clip}_{[0,1]}\big(\hat x + s\,\alpha\, B\Delta + \alpha\,(\Delta - B\Delta)\big),
        \qquad s = \text{low\_share};

    with ``low_share`` 1 or ``lowpass`` 0 it is x̂ + α Δ (a convex blend, nothing to clip)."""
    candidates = candidates.to(observed.device)
    alpha = weight.to(observed.device, observed.dtype).view(-1, 1, 1, 1)
    difference = candidates - observed
    side = min(observed.shape[-2:])
    sigma = test.lowpass * side
    radius = min(math.ceil(3 * sigma), side - 1)
    if test.low_share == 1 or radius == 0:
        return observed + alpha * difference
    low = gaussian_blur(difference, torch.full((observed.shape[0],), sigma), radius)
    return (observed + alpha * (difference - (1 - test.low_share) * low)).clamp(0, 1)


def blend_weights(statistic: Tensor, calibration: Tensor, test: ConsistencyTest) -> Tensor:
    """α ``[N]`` in [0, ``test.blend``] for the statistic of N images and the ``m`` calibration values of their SNR."""
    statistic = statistic.float().cpu()
    if test.quantile is not None:
        return test.blend * (statistic <= threshold(calibration, test.quantile)).float()
    return test.blend * in_range_pvalue(statistic, calibration) ** test.power


Statistic = Callable[[Tensor, float, torch.Generator, list[int]], Tensor]


def calibration_statistics(prior: nn.Module, statistic: Statistic, test: ConsistencyTest, key: dict) -> Tensor:
    """The statistic ``[m]`` on m prior images at one SNR, from the cache or computed.

    ``statistic(images, snr_db, generator, seeds)`` sends images ``[B, 3, R, R]`` in [0, 1]
    through the DeepJSCC and channel (noise from ``generator``), inverts the result (random
    starts from ``seeds``) and returns the statistic ``[B]``. ``key`` holds everything the result
    depends on (weight hashes, solver settings, channel, SNR); it names the cache file and is
    checked when the file is read back.
    """
    key = {**key, "statistic": test.statistic, "samples": test.samples, "truncation": test.truncation,
           "seed_offset": CALIBRATION_SEED_OFFSET, "version": CALIBRATION_VERSION}
    path = _cache_file(key)
    cached = _read(path, key)
    if cached is not None:
        return cached
    snr = float(key["snr_db"])
    device = next(prior.parameters()).device
    parts = []
    for start in range(0, test.samples, test.batch):
        seeds = [CALIBRATION_SEED_OFFSET + i for i in range(start, min(start + test.batch, test.samples))]
        images = sample_images(prior, seeds, test.truncation)
        generator = torch.Generator(device=device).manual_seed(CALIBRATION_SEED_OFFSET + start)
        parts.append(statistic(images, snr, generator, seeds).detach().float().cpu())
    values = torch.cat(parts)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps({"key": key, "statistics": values.tolist()}))
    except OSError:  # a read-only or full cache folder costs time, not the result
        pass
    return values


def threshold(values: Tensor, quantile: float) -> float:
    """τ_q: the q-quantile (linear interpolation) of the calibration statistics."""
    return torch.quantile(values.double(), quantile).item()


def _cache_file(key: dict) -> Path:
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:24]
    return cache_dir() / "inverse-consistency" / f"{digest}.json"


def _read(path: Path, key: dict) -> Tensor | None:
    try:
        stored = json.loads(path.read_text())
    except (OSError, ValueError):  # missing, truncated or not JSON: compute it again
        return None
    if not isinstance(stored, dict) or stored.get("key") != json.loads(json.dumps(key)):
        return None
    values = torch.tensor(stored.get("statistics", []), dtype=torch.float32)
    if values.shape != (key["samples"],) or not torch.isfinite(values).all():
        return None
    return values
