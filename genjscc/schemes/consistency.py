"""InverseJSCC's consistency test: is the prior's image a plausible explanation of what arrived?

After the solve, the receiver has the DeepJSCC output x̂ and the prior image G it found, with the
solver's objective ``L = λ_mse·MSE(A(G), x̂) + λ_lpips·LPIPS(A(G), x̂)`` of the returned iterate.
When the sent image is one the prior can make, L is what DeepJSCC's own distortion at that SNR
and BCR leaves; when it is not, G is another picture and L is larger. The test accepts G when

.. math::

    L \\le \\tau_q(\\text{channel}, \\text{SNR}), \\qquad
    \\tau_q = q\\text{-quantile of } \\{L_i\\}_{i=1}^{m},

where ``L_i`` are the objectives of the same solve on ``m`` images sampled from the prior
(truncation ψ, seeds from :data:`CALIBRATION_SEED_OFFSET`), sent through the same DeepJSCC and
channel at the same SNR. Otherwise it sends x̂ on unchanged. Only the prior, the DeepJSCC, the
channel model and the SNR enter the calibration: the receiver knows all of them, and it never
sees a test image. About a fraction q of in-range images pass by construction.

The m objectives are computed once per (prior, DeepJSCC, solver settings, channel, SNR, m, ψ) and
kept in the cache folder (:func:`genjscc.cache.cache_dir`) under a key made of the SHA-256 of the
prior's and the DeepJSCC's weights and every other input, so a changed prior or DeepJSCC (or any
setting) gives a new calibration and an unchanged one is read back. The quantile is applied when
the file is read, so changing q costs nothing.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import Tensor, nn

from genjscc.atomic import atomic_write_text
from genjscc.cache import cache_dir
from genjscc.models.stylegan2.sampling import DEFAULT_TRUNCATION, sample_images

__all__ = ["ConsistencyTest", "CALIBRATION_SEED_OFFSET", "weights_hash", "calibration_objectives", "threshold"]

CALIBRATION_SEED_OFFSET = 2**41  # above every training (< 2^40) and test (2^40 + i) seed of prior:NAME data
CALIBRATION_VERSION = 1  # bump when the calibration procedure changes: old files stop matching


@dataclass(frozen=True)
class ConsistencyTest:
    """``quantile`` q of the in-range objectives accepted; ``samples`` m prior images per (channel, SNR);
    ``truncation`` ψ of those samples; ``batch`` images per calibration solve."""

    quantile: float = 0.95
    samples: int = 64
    truncation: float = DEFAULT_TRUNCATION
    batch: int = 16

    def __post_init__(self):
        if not 0 < self.quantile <= 1:
            raise ValueError(f"consistency_quantile must be in (0, 1], got {self.quantile}: e.g. 0.95 accepts "
                             "about 95 % of the images the prior can make")
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


Solve = Callable[[Tensor, float, torch.Generator, list[int]], Tensor]


def calibration_objectives(prior: nn.Module, solve: Solve, test: ConsistencyTest, key: dict) -> Tensor:
    """The objectives ``[m]`` of the solve on m prior images at one SNR, from the cache or computed.

    ``solve(images, snr_db, generator, seeds)`` sends images ``[B, 3, R, R]`` in [0, 1] through
    the DeepJSCC and channel (noise from ``generator``), inverts the result (random starts from
    ``seeds``) and returns the objective ``[B]`` of each returned iterate. ``key`` holds
    everything the result depends on (weight hashes, solver settings, channel, SNR); it names
    the cache file and is checked when the file is read back.
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
        parts.append(solve(images, snr, generator, seeds).detach().float().cpu())
    objectives = torch.cat(parts)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps({"key": key, "objectives": objectives.tolist()}))
    except OSError:  # a read-only or full cache folder costs time, not the result
        pass
    return objectives


def threshold(objectives: Tensor, quantile: float) -> float:
    """τ_q: the q-quantile (linear interpolation) of the calibration objectives."""
    return torch.quantile(objectives.double(), quantile).item()


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
    values = torch.tensor(stored.get("objectives", []), dtype=torch.float32)
    if values.shape != (key["samples"],) or not torch.isfinite(values).all():
        return None
    return values
