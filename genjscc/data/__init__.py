"""Image data: the embedded photo set, procedural dead leaves, mixes, image folders and CIFAR-10 batches.

Every dataset yields float images ``[3, S, S]`` in [0, 1]. A dataset is named by a spec:

* ``photos`` — real photographs that ship inside the scikit-image and scikit-learn wheels,
  split by **whole image** (:data:`PHOTO_SPLIT`). Training crops are random squares whose
  side is drawn log-uniformly between 1/4 and all of the image's short side, resized to
  S x S, randomly flipped. Test crops are fixed: each test image is resized so its short side
  is 1, 2 and 4 times S and cut into a grid of S x S tiles (centred).
* ``folder:PATH`` — every image Pillow reads below PATH (recursive). If PATH has ``train``
  and ``test`` sub-folders they are the split; otherwise a file goes to ``test`` when a hash
  of its relative path falls in the last 10 %. Training: random square crop of 80–100 % of
  the short side, resized, flipped; test: the centred square, resized.
* ``cifar10:PATH`` — the CIFAR-10 python batches (``data_batch_1..5``, ``test_batch``).

* ``deadleaves`` — procedural images (:mod:`genjscc.procedural`); ``A+B@f`` — mixes.
* ``prior:NAME`` or ``prior:NAME@PSI`` — in-range images sampled from a StyleGAN2 prior (a zoo
  name or a weight path) with fixed seeds, train and test from disjoint seed ranges
  (:mod:`.prior`; truncation 0.7 unless given).

Training datasets are map-style and deterministic: item ``i`` is drawn from a generator
seeded by ``(seed, i)``, so a resumed run sees the same crops. Modules: :mod:`.photos`,
:mod:`.files` (folders, CIFAR-10), :mod:`.datasets` (crops, fixed lists, mixes),
:mod:`.sampling` (the resumable stream), :mod:`.transforms`; this module names datasets by spec.
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
from torch.utils.data import Dataset

from genjscc.data.datasets import CropDataset, FixedDataset, MixedDataset, TensorPool, pass_batch
from genjscc.data.files import CifarDataset, FolderImages, load_cifar10
from genjscc.data.photos import PHOTO_SPLIT, Split, grid_crops, photo_images, photo_palette
from genjscc.data.sampling import StreamSampler
from genjscc.data.transforms import centre_square
from genjscc.atomic import atomic_path
from genjscc.cache import cache_dir
from genjscc.images import DataError, load_image, save_image

__all__ = [
    "PHOTO_SPLIT", "load_dataset", "load_image", "save_image", "photo_images", "photo_palette", "grid_crops",
    "CropDataset", "FixedDataset", "MixedDataset", "FolderImages", "load_cifar10", "DataError", "stack",
    "training_mean_image", "crop_pool", "StreamSampler", "TensorPool", "pass_batch", "test_spec",
]


def load_dataset(
    spec: str,
    split: Split,
    size: int,
    *,
    seed: int = 0,
    length: int = 50_000,
    limit: int | None = None,
    skip_bad: bool = False,
    resize_small: bool = False,
) -> Dataset:
    """Dataset named by ``spec`` (see module doc) yielding ``[3, size, size]`` in [0, 1].

    ``length`` is the number of distinct random crops of a cropping training set;
    ``limit`` keeps only the first images of a test set. ``skip_bad`` / ``resize_small``
    (folders): skip unreadable files / upscale images smaller than ``size`` instead of failing.
    """
    if limit is not None and limit < 1:
        raise DataError(f"--limit must be at least 1, got {limit}")
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if size < 8 or size % 8:
        raise DataError(f"size must be a multiple of 8 and at least 8, got {size}")
    if "+" in spec and not spec.startswith(("folder:", "cifar10:", "prior:")):
        return _mixed(spec, split, size, seed=seed, length=length, limit=limit, skip_bad=skip_bad,
                      resize_small=resize_small)
    kind, _, arg = spec.partition(":")
    if kind == "deadleaves":
        from genjscc.procedural import DeadLeaves

        if split == "train":
            return DeadLeaves(size, length, seed=seed, palette=photo_palette())
        count = PROCEDURAL_TEST_IMAGES if limit is None else min(limit, PROCEDURAL_TEST_IMAGES)
        return DeadLeaves(size, count, seed=


PROCEDURAL_TEST_SEED, palette=photo_palette())
    if kind == "photos":
        if split == "train":
            return CropDataset(photo_images("train"), size, length=length, seed=seed)
        crops = [c for im in photo_images("test") for c in grid_crops(im, size)]
        return FixedDataset(crops[:limit])
    if kind == "folder":
        if not arg:
            raise DataError("folder datasets are written folder:PATH")
        images = FolderImages(arg, size, skip_bad=skip_bad, resize_small=resize_small).split(split)
        if split == "train":
            return CropDataset(images, size, length=length, seed=seed, min_fraction=0.8)
        return FixedDataset([centre_square(im.load(), size) for im in images[:limit]])
    if kind == "cifar10":
        if not arg:
            raise DataError("CIFAR-10 datasets are written cifar10:PATH")
        data = load_cifar10(arg, split)
        if limit is not None:
            data = data[:limit]
        return CifarDataset(data, size, seed if split == "train" else None)
    if kind == "prior":
        from genjscc.data.prior import prior_dataset

        return prior_dataset(arg, split, size, seed=seed, length=length, limit=limit)
    raise DataError(f"unknown dataset {spec!r}; use photos, deadleaves, folder:PATH, cifar10:PATH, prior:NAME "
                    "or a mix such as photos+deadleaves@0.5")


def test_spec(spec: str) -> str:
    """The one way of writing the test images ``spec`` names, for result records: a mix tests on its
    first part (``photos+deadleaves@0.3`` -> ``photos``), a prior spec names its truncation
    (``prior:NAME`` -> ``prior:NAME@0.7``); specs that do not parse are returned as given."""
    if "+" in spec and not spec.startswith(("folder:", "cifar10:", "prior:")):
        return test_spec(spec.partition("+")[0])
    kind, _, arg = spec.partition(":")
    if kind == "prior":
        from genjscc.data.prior import parse_prior_spec

        try:
            name, psi = parse_prior_spec(arg)
        except DataError:
            return spec
        return f"prior:{name}@{psi:g}"
    return spec


PROCEDURAL_TEST_SEED = 1_000_000  # procedural test images come from seeds no training run uses
PROCEDURAL_TEST_IMAGES = 256
DEFAULT_MIX_FRACTION = 0.5


def _mixed(spec: str, split: Split, size: int, **options) -> Dataset:
    """``A+B`` or ``A+B@f``: training items from B with probability f (default 0.5), else from A.

    The test split of a mix is A's: procedural data trains, real images test.
    """
    body, _, fraction_text = spec.rpartition("@") if "@" in spec else (spec, "", "")
    first, _, second = body.partition("+")
    if not first or not second or "+" in second:
        raise DataError(f"a data mix is written A+B or A+B@FRACTION (e.g. photos+deadleaves@0.5), got {spec!r}")
    try:
        fraction = float(fraction_text) if fraction_text else DEFAULT_MIX_FRACTION
    except ValueError:
        raise DataError(f"cannot read the mix fraction in {spec!r}: write e.g. photos+deadleaves@0.3") from None
    if not 0 <= fraction <= 1:
        raise DataError(f"the mix fraction in {spec!r} must lie in [0, 1]")
    a = load_dataset(first, split, size, **options)
    if split == "test":
        return a
    b = load_dataset(second, split, size, **options)
    return MixedDataset(a, b, fraction, seed=options.get("seed", 0))


def stack(dataset: Dataset, limit: int | None = None) -> Tensor:
    """All (or the first ``limit``) items of a dataset as one tensor ``[N, 3, S, S]``."""
    n = len(dataset) if limit is None else min(limit, len(dataset))
    return torch.stack([dataset[i] for i in range(n)])


MEAN_IMAGE_CROPS = 2000
MEAN_IMAGE_SEED = 0
# Bump when the crops a spec yields change (crop rules, photo split, resizing): old cache files
# then stop matching and are rebuilt.
MEAN_IMAGE_CACHE_VERSION = "1"


def _cache_dir() -> Path:
    """:func:`genjscc.cache.cache_dir` (``$GENJSCC_CACHE`` first)."""
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
    with two (measured under load: 0.2-1.2 s vs 10.5 s for 2000 64x64 photo crops)."""
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


def crop_pool(spec: str, size: int, count: int, *, seed: int = 0, workers: int = 0, **options) -> TensorPool:
    """A fixed pool of ``count`` training crops, one uint8 tensor ``[count, 3, S, S]`` (4x less memory than
    float: 50,000 crops of 64x64 take 614 MB, which the StyleGAN2 trainer keeps on the GPU).

    Items are uint8; a training step converts them (``x / 255``). Built once, in parallel when
    ``workers > 0``; a pool is fast where crops are the bottleneck (GPU training).
    """
    from torch.utils.data import DataLoader

    source = load_dataset(spec, "train", size, seed=seed, length=count, **options)
    loader = DataLoader(source, batch_size=256, num_workers=workers)
    crops = torch.cat([(b * 255).round().to(torch.uint8) for b in loader])
    return TensorPool(crops)
