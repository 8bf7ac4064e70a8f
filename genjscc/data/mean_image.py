"""The mean training image of a dataset spec, cached on disk: the separation scheme's fallback image.

The mean of ``MEAN_IMAGE_CROPS`` training crops at S x S, stored as ``.npy`` under the cache directory
keyed by the spec, the files it reads (fingerprinted), the size and the package version.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from genjscc.data.specs import load_dataset, stack
from genjscc.utils.atomic import atomic_path
from genjscc.utils.cache import cache_dir

__all__ = ["training_mean_image", "MEAN_IMAGE_CROPS", "MEAN_IMAGE_SEED", "MEAN_IMAGE_CACHE_VERSION"]


MEAN_IMAGE_CROPS = 2000
MEAN_IMAGE_SEED = 0
# Bump when the crops a spec yields change (crop rules, photo split, resizing): old cache files
# then stop matching and are rebuilt.
MEAN_IMAGE_CACHE_VERSION = "1"


def _cache_dir() -> Path:
    """:func:`genjscc.utils.cache.cache_dir` (``$GENJSCC_CACHE`` first)."""
    return cache_dir()


def _path_fingerprint(path: Path) -> list:
    """Name, size and mtime of every file at or below ``path``: a folder, CIFAR batches or weights
    edited in place give another cache key."""
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    return [[str(f.relative_to(path)) if f != path else f.name, f.stat().st_size, f.stat().st_mtime_ns] for f in files]


def _spec_fingerprint(spec: str) -> list:
    """The files on disk a spec reads (``folder:``, ``cifar10:``, ``prior:`` with a path), fingerprinted."""
    out = []
    for part in spec.split("+"):
        kind, _, arg = part.partition(":")
        candidates = [arg, arg.rpartition("@")[0]]  # prior:PATH@PSI, A+folder:PATH@FRACTION
        if kind == "prior":  # a zoo name: its weight file
            from genjscc.zoo import ZOO

            candidates += [str(ZOO[c].path) for c in candidates if c in ZOO]
        for candidate in candidates:
            if candidate and Path(candidate).exists():
                path = Path(candidate).resolve()
                out.append([kind, str(path), _path_fingerprint(path)])
                break
    return out


def _mean_cache_file(spec: str, size: int) -> Path:
    from genjscc import __version__

    key = json.dumps({"what": "training_mean_image", "spec": spec, "size": size, "count": MEAN_IMAGE_CROPS,
                      "seed": MEAN_IMAGE_SEED, "version": MEAN_IMAGE_CACHE_VERSION, "genjscc": __version__,
                      "files": _spec_fingerprint(spec)}, sort_keys=True)
    digest = hashlib.sha256(key.encode()).hexdigest()[:24]
    return _cache_dir() / f"mean-image-{size}-{digest}.npy"


def _build_mean_square(spec: str, size: int) -> Tensor:
    """The mean of the crops, built on one thread: thousands of tiny ops run many times slower
    with two on a busy machine (figures: ``benchmarks/README.md``, "Measured without a script")."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return stack(load_dataset(spec, "train", size, seed=MEAN_IMAGE_SEED, length=MEAN_IMAGE_CROPS)).mean(dim=0)
    finally:
        torch.set_num_threads(threads)


def _read_mean_cache(path: Path, size: int) -> Tensor | None:
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError):  # missing, truncated or not an .npy file
        return None
    if array.shape != (3, size, size) or array.dtype != np.float32 or not np.isfinite(array).all():
        return None
    return torch.from_numpy(array)


@lru_cache(maxsize=8)
def _mean_square(spec: str, size: int) -> Tensor:
    """Mean crop ``[3, size, size]``: per process in memory, across processes in the cache dir."""
    path = _mean_cache_file(spec, size)
    cached = _read_mean_cache(path, size)
    if cached is not None:
        return cached
    mean = _build_mean_square(spec, size)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path, suffix=".npy") as tmp:
            np.save(tmp, mean.numpy().astype(np.float32))
    except OSError:  # a read-only or full cache dir costs speed, not the result
        pass
    return mean


def training_mean_image(spec: str, height: int, width: int) -> Tensor:
    """Mean of 2000 training crops of dataset ``spec``: ``[3, H, W]`` in [0, 1].

    Crops are squares of side max(H, W), resized to H x W when the image is not square. The
    separation baselines send this image when a file does not fit or is lost. Cached per
    process and on disk (``.npy`` in ``$GENJSCC_CACHE``, else ``$XDG_CACHE_HOME/genjscc``, else
    ``~/.cache/genjscc``), keyed by spec, size, crop count, seed, a cache version and the
    files a spec reads; an unreadable cache file is rebuilt.
    """
    side = max(height, width)
    side = side + (-side) % 8  # datasets crop to multiples of 8
    mean = _mean_square(spec, side)
    if (height, width) != (side, side):
        mean = F.interpolate(mean.unsqueeze(0), size=(height, width), mode="bilinear", antialias=True,
                             align_corners=False).squeeze(0)
    return mean
