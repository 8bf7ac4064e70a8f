"""Datasets named by a spec string (``photos``, ``deadleaves``, ``folder:PATH``, ``cifar10:PATH``,
``prior:NAME[@PSI]``, mixes ``A+B[@f]``); see :mod:`genjscc.data` for what each yields."""

from __future__ import annotations

import torch
from torch import Tensor
from torch.utils.data import Dataset

from genjscc.data.datasets import CropDataset, FixedDataset, MixedDataset, TensorPool
from genjscc.data.files import CifarDataset, FolderImages, load_cifar10
from genjscc.data.photos import Split, grid_crops, photo_images, photo_palette
from genjscc.data.transforms import centre_square
from genjscc.utils.images import DataError

__all__ = ["load_dataset", "test_spec", "stack", "crop_pool", "PROCEDURAL_TEST_SEED", "PROCEDURAL_TEST_IMAGES",
           "DEFAULT_MIX_FRACTION"]


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
    crop_scale: str = "downscaled",
) -> Dataset:
    """Dataset named by ``spec`` (see module doc) yielding ``[3, size, size]`` in [0, 1].

    ``length`` is the number of distinct random crops of a cropping training set;
    ``limit`` keeps only the first images of a test set. ``skip_bad`` / ``resize_small``
    (folders): skip unreadable files / upscale images smaller than ``size`` instead of failing.
    ``crop_scale`` (training crops of photos and folders): ``downscaled`` (a random share of the
    image resized to ``size``) or ``native`` (``size`` pixels at the image's own scale).
    """
    if limit is not None and limit < 1:
        raise DataError(f"--limit must be at least 1, got {limit}")
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if size < 8 or size % 8:
        raise DataError(f"size must be a multiple of 8 and at least 8, got {size}")
    if "+" in spec and not spec.startswith(("folder:", "cifar10:", "prior:")):
        return _mixed(spec, split, size, seed=seed, length=length, limit=limit, skip_bad=skip_bad,
                      resize_small=resize_small, crop_scale=crop_scale)
    kind, _, arg = spec.partition(":")
    if kind == "deadleaves":
        from genjscc.data.deadleaves import DeadLeaves

        if split == "train":
            return DeadLeaves(size, length, seed=seed, palette=photo_palette())
        count = PROCEDURAL_TEST_IMAGES if limit is None else min(limit, PROCEDURAL_TEST_IMAGES)
        return DeadLeaves(size, count, seed=


PROCEDURAL_TEST_SEED, palette=photo_palette())
    if kind == "photos":
        if split == "train":
            return CropDataset(photo_images("train"), size, length=length, seed=seed, scale=crop_scale)
        crops = [c for im in photo_images("test") for c in grid_crops(im, size)]
        return FixedDataset(crops[:limit])
    if kind == "folder":
        if not arg:
            raise DataError("folder datasets are written folder:PATH")
        images = FolderImages(arg, size, skip_bad=skip_bad, resize_small=resize_small).split(split)
        if split == "train":
            return CropDataset(images, size, length=length, seed=seed, min_fraction=0.8, scale=crop_scale)
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
