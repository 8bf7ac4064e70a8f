"""InverseJSCC's consistency test: does the prior's image explain what arrived?

After the solve the receiver has the DeepJSCC output x̂ and the prior image G. Write D₀ for the
DeepJSCC run without channel noise at the known SNR (encoder, power normalisation, decoder). If
G is (close to) the image that was sent, sending G would have given about x̂, so D₀(G) is near
x̂; if the sent image is one the prior cannot make, G is another picture and D₀(G) is not. The
statistic compares G with the receiver's other candidate, x̂ itself:

.. math::

    R = \frac{\operatorname{MSE}(D_0(G), \hat x)}{\operatorname{MSE}(D_0(\hat x), \hat x) + 10^{-8}},

and the test accepts G when ``R <= τ_q(channel, SNR)``, the q-quantile of R over ``m`` images
sampled from the prior (truncation ψ, seeds from :data:`CALIBRATION_SEED_OFFSET`) sent through
the same DeepJSCC, channel and SNR and solved with the same settings; otherwise x̂ goes out. The
denominator puts every image on its own scale (textured images have larger DeepJSCC residuals
either way). Only the prior, the DeepJSCC, the channel model and the SNR enter the calibration:
the receiver knows all of them and never sees a test image. About a fraction q of in-range
images pass by construction.

Why not the solver's own objective (MSE + LPIPS of G against x̂): on 16 prior samples and 16
training photo crops (DeepJSCC 1/48, AWGN 0 dB) its ranges overlapped almost entirely (0.19-0.50
vs 0.19-0.58), because G is sharp and x̂ blurred whether or not G is the right picture; R on 8 + 8
images was 0.9-4.2 in range against 7.7-30 on photos at 0 dB (1.0-3.9 vs 2.5-10.3 at -5 dB).

The m values of R are computed once per (prior, DeepJSCC, solver settings, channel, SNR, m, ψ)
and kept in the cache folder (:func:`genjscc.utils.cache.cache_dir`) under a key made of the SHA-256 of
the prior's and the DeepJSCC's weights and every other input, so a changed prior or DeepJSCC (or
any setting) gives a new calibration and an unchanged one is read back. The quantile is applied
when the file is read, so changing q costs nothing.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import Tensor, nn

from genjscc.utils.atomic import atomic_write_text
from genjscc.utils.cache import cache_dir
from genjscc.models.stylegan2.sampling import DEFAULT_TRUNCATION, sample_images

__all__ = ["ConsistencyTest", "CALIBRATION_SEED_OFFSET", "weights_hash", "reencoding_ratio", "calibration_statistics",
           "threshold"]

CALIBRATION_SEED_OFFSET = 2**41  # above every training (< 2^40) and test (2^40 + i) seed of prior:NAME data
CALIBRATION_VERSION = 2  # bump when the calibration procedure changes: old files stop matching


@dataclass(frozen=True)
class ConsistencyTest:
    """``quantile`` q of the in-range statistics accepted; ``samples`` m prior images per (channel, SNR);
    ``truncation`` ψ of those samples; ``batch`` images per calibration solve."""

    quantile: float = 0.9
    samples: int = 64
    truncation: float = DEFAULT_TRUNCATION
    batch: int = 16

    def __post_init__(self):
        if not 0 < self.quantile <= 1:
            raise ValueError(f"consistency_quantile must be in (0, 1], got {self.quantile}: e.g. 0.9 accepts "
                             "about 90 % of the images the prior can make")
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


def reencoding_ratio(reencode: Callable[[Tensor], Tensor], candidates: Tensor, observed: Tensor) -> Tensor:
    """``R [N]`` for candidates G and DeepJSCC outputs x̂ ``[N, 3, H, W]`` in [0, 1]; ``reencode`` is D₀."""
    def mse(a: Tensor, b: Tensor) -> Tensor:
        return (a.float() - b.float()).square().flatten(1).mean(dim=1)

    observed = observed.to(candidates.device)
    return mse(reencode(candidates), observed) / (mse(reencode(observed), observed) + 1e-8)


Statistic = Callable[[Tensor, float, torch.Generator, list[int]], Tensor]


def calibration_statistics(prior: nn.Module, statistic: Statistic, test: ConsistencyTest, key: dict) -> Tensor:
    """The statistic ``[m]`` on m prior images at one SNR, from the cache or computed.

    ``statistic(images, snr_db, generator, seeds)`` sends images ``[B, 3, R, R]`` in [0, 1]
    through the DeepJSCC and channel (noise from ``generator``), inverts the result (random
    starts from ``seeds``) and returns R ``[B]``. ``key`` holds everything the result depends on
    (weight hashes, solver settings, channel, SNR); it names the cache file and is checked when
    the file is read back.
    """
    key = {**key, "samples": test.samples, "truncation": test.truncation, "seed_offset": CALIBRATION_SEED_OFFSET,
           "version": CALIBRATION_VERSION}
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
