"""Image data: the embedded photo set, image folders and CIFAR-10 batches.

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

Training datasets are map-style and deterministic: item ``i`` is drawn from a generator
seeded by ``(seed, i)``, so a resumed run sees the same crops.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset, Sampler

from genjscc.images import IMAGE_SUFFIXES, DataError, list_images, load_image, open_image, save_image, uint8_chw
from genjscc.safe_pickle import NumpyOnlyUnpickler

__all__ = [
    "PHOTO_SPLIT",
    "load_dataset",
    "load_image",
    "save_image",
    "photo_images",
    "CropDataset",
    "FixedDataset",
    "FolderImages",
    "DataError",
    "training_mean_image",
    "crop_pool",
    "StreamSampler",
]

Split = Literal["train", "test"]

# Colour photographs shipped in the wheels, split by whole image. motorcycle_right is left out:
# it is the other view of motorcycle_left's stereo pair and would leak between splits.
# Licences: scikit-image's are CC0 / public domain, scikit-learn's CC-BY, matplotlib's
# grace_hopper.jpg a US Navy photograph (public domain). The wheels' other photographs are
# grayscale (camera, grass, gravel, brick, coins, ...) and are not used.
PHOTO_SPLIT: dict[str, tuple[str, ...]] = {
    "train": (
        "skimage:astronaut.png",
        "skimage:hubble_deep_field.jpg",
        "skimage:ihc.png",
        "skimage:motorcycle_left.png",
        "skimage:retina.jpg",
        "skimage:rocket.jpg",
        "sklearn:china.jpg",
        "matplotlib:grace_hopper.jpg",
    ),
    "test": ("skimage:chelsea.png", "skimage:coffee.png", "sklearn:flower.jpg"),
}


# ----------------------------------------------------------------------------- images


def _resize(image: Tensor, height: int, width: int) -> Tensor:
    """Antialiased bilinear resize of ``[3, H, W]`` (uint8 or float) to float [0, 1]."""
    x = image.float().unsqueeze(0)
    if image.dtype == torch.uint8:
        x = x / 255.0
    if x.shape[-2:] != (height, width):
        x = F.interpolate(x, size=(height, width), mode="bilinear", antialias=True, align_corners=False)
    return x.squeeze(0).clamp(0, 1)


# ----------------------------------------------------------------------------- photos


@lru_cache(maxsize=None)
def _photo(name: str) -> Tensor:
    source, filename = name.split(":", 1)
    if source == "skimage":
        import skimage

        path = Path(skimage.__file__).parent / "data" / filename
    elif source == "matplotlib":
        import matplotlib

        path = Path(matplotlib.__file__).parent / "mpl-data" / "sample_data" / filename
    else:
        import sklearn.datasets

        path = Path(sklearn.datasets.__file__).parent / "images" / filename
    if not path.exists():
        raise DataError(f"embedded photo {name} not found at {path}; reinstall scikit-image, scikit-learn and matplotlib")
    with Image.open(path) as im:
        return uint8_chw(im)


def photo_images(split: Split) -> list[Tensor]:
    """The whole embedded photos of a split as uint8 ``[3, H, W]`` tensors."""
    return [_photo(name) for name in PHOTO_SPLIT[split]]


def grid_crops(image: Tensor, size: int, scales: tuple[int, ...] = (1, 2, 4)) -> list[Tensor]:
    """Deterministic S x S tiles: resize so the short side is ``s * S`` and tile, for each s."""
    crops = []
    h, w = image.shape[-2:]
    for s in scales:
        short = s * size
        new_h, new_w = (short, max(short, round(w * short / h))) if h <= w else (max(short, round(h * short / w)), short)
        resized = _resize(image, new_h, new_w)
        rows, cols = new_h // size, new_w // size
        top, left = (new_h - rows * size) // 2, (new_w - cols * size) // 2
        for r in range(rows):
            for c in range(cols):
                y, x = top + r * size, left + c * size
                crops.append(resized[:, y : y + size, x : x + size].contiguous())
    return crops


# ----------------------------------------------------------------------------- datasets


class CropDataset(Dataset):
    """Random square crops of a list of images, resized to S x S and randomly flipped.

    Item ``i`` depends only on ``(seed, i)``. The crop side is ``short * u`` with
    ``u = min_fraction ** r``, ``r ~ U(0, 1)`` (log-uniform in [min_fraction, 1]).
    """

    def __init__(self, images, size: int, *, length: int = 50_000, seed: int = 0, min_fraction: float = 0.25):
        self.images = images
        self.size, self.length, self.seed, self.min_fraction = size, length, seed, min_fraction
        self._pyramids: dict[int, list[Tensor]] = {}  # in-memory images: halved copies for fast crops

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> Tensor:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + index)
        which = int(torch.randint(len(self.images), (1,), generator=g))  # every image equally often
        image = _materialise(self.images[which])
        h, w = image.shape[-2:]
        short = min(h, w)
        r = torch.rand(3, generator=g)
        side = max(self.size, min(short, round(short * self.min_fraction ** r[0].item())))
        y = int(r[1].item() * (h - side + 1)) if h > side else 0
        x = int(r[2].item() * (w - side + 1)) if w > side else 0
        level = 0
        if isinstance(self.images[which], Tensor):
            # crop from the smallest halved copy that still has >= size pixels across the crop
            pyramid = self._pyramid(which)
            level = min(max(0, int(math.floor(math.log2(side / self.size)))), len(pyramid) - 1)
            image = pyramid[level]
        scale = 2**level
        y0, x0, s0 = y // scale, x // scale, max(1, side // scale)
        crop = _resize(image[:, y0 : y0 + s0, x0 : x0 + s0], self.size, self.size)
        if torch.rand(1, generator=g).item() < 0.5:
            crop = crop.flip(-1)
        return crop


    def _pyramid(self, which: int) -> list[Tensor]:
        if which not in self._pyramids:
            levels = [self.images[which]]
            while min(levels[-1].shape[-2:]) >= 2 * self.size:
                h, w = levels[-1].shape[-2:]
                levels.append((_resize(levels[-1], h // 2, w // 2) * 255).round().byte())
            self._pyramids[which] = levels
        return self._pyramids[which]


class FixedDataset(Dataset):
    """A fixed list of ``[3, S, S]`` float images."""

    def __init__(self, images: list[Tensor]):
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> Tensor:
        return self.images[index]


def _materialise(image) -> Tensor:
    return image if isinstance(image, Tensor) else image.load()


# ----------------------------------------------------------------------------- folders


@dataclass(frozen=True)
class _LazyImage:
    path: Path
    shape_hw: tuple[int, int]
    upscale_to: int = 0  # > 0: resize so the short side is at least this

    def load(self) -> Tensor:
        with open_image(self.path) as im:
            try:
                image = uint8_chw(im)
            except (OSError, SyntaxError, ValueError, EOFError) as exc:
                raise DataError(f"cannot read image {self.path}: {exc}; remove it or pass --skip-bad") from None
        if self.upscale_to and min(image.shape[-2:]) < self.upscale_to:
            h, w = image.shape[-2:]
            scale = self.upscale_to / min(h, w)
            image = (_resize(image, math.ceil(h * scale), math.ceil(w * scale)) * 255).round().byte()
        return image


class FolderImages:
    """Scan a folder of images recursively; check each file once (header only)."""

    def __init__(self, root: str | Path, size: int, *, skip_bad: bool = False, resize_small: bool = False):
        self.root = Path(root).expanduser()
        if not self.root.is_dir():
            raise DataError(f"image folder not found: {self.root}")
        files = list_images(self.root)
        if not files:
            raise DataError(f"no images found under {self.root} (looked for {', '.join(sorted(IMAGE_SUFFIXES))})")
        good, bad, small = [], [], []
        for path in files:
            try:
                with open_image(path) as im:
                    im.verify()
                with open_image(path) as im:
                    w, h = im.size
            except DataError as exc:
                bad.append(f"{path} ({exc})")
                continue
            except Exception as exc:  # Pillow raises many types for corrupt files
                bad.append(f"{path} ({type(exc).__name__})")
                continue
            if min(h, w) < size and not resize_small:
                small.append(f"{path} ({w}x{h})")
                continue
            good.append(_LazyImage(path, (max(h, size), max(w, size)) if resize_small else (h, w), size if resize_small else 0))
        if bad and not skip_bad:
            listed = "\n  ".join(bad[:20]) + (f"\n  ... and {len(bad) - 20} more" if len(bad) > 20 else "")
            raise DataError(f"{len(bad)} unreadable image file(s) under {self.root}:\n  {listed}\nremove them or pass --skip-bad")
        if small:
            listed = "\n  ".join(small[:20]) + (f"\n  ... and {len(small) - 20} more" if len(small) > 20 else "")
            raise DataError(
                f"{len(small)} image(s) smaller than {size}x{size} under {self.root}:\n  {listed}\n"
                "remove them, choose a smaller --size, or pass --resize-small to upscale them"
            )
        if not good:
            raise DataError(f"no usable images under {self.root} ({len(bad)} unreadable)")
        self.images, self.skipped = good, len(bad)

    def split(self, split: Split) -> list[_LazyImage]:
        train_dir, test_dir = self.root / "train", self.root / "test"
        if train_dir.is_dir() and test_dir.is_dir():
            chosen = test_dir if split == "test" else train_dir
            return [im for im in self.images if chosen in im.path.parents]
        out = [im for im in self.images if (_hash_fraction(im.path.relative_to(self.root)) >= 0.9) == (split == "test")]
        if not out:
            raise DataError(
                f"the {split} split of {self.root} is empty ({len(self.images)} images in all); "
                "add more images or use train/ and test/ sub-folders"
            )
        return out


def _hash_fraction(path: Path) -> float:
    digest = hashlib.sha1(str(path).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _centre_square(image: Tensor, size: int) -> Tensor:
    h, w = image.shape[-2:]
    side = min(h, w)
    y, x = (h - side) // 2, (w - side) // 2
    return _resize(image[:, y : y + side, x : x + side], size, size)


# ----------------------------------------------------------------------------- CIFAR-10


def load_cifar10(root: str | Path, split: Split) -> Tensor:
    """CIFAR-10 python batches -> uint8 ``[N, 3, 32, 32]``."""
    root = Path(root).expanduser()
    if (root / "cifar-10-batches-py").is_dir():
        root = root / "cifar-10-batches-py"
    names = ["test_batch"] if split == "test" else [f"data_batch_{i}" for i in range(1, 6)]
    arrays = []
    for name in names:
        path = root / name
        if not path.exists():
            raise DataError(f"CIFAR-10 batch {path} not found; point cifar10:PATH at the cifar-10-batches-py folder")
        try:
            with open(path, "rb") as fh:
                batch = NumpyOnlyUnpickler(fh, encoding="bytes").load()
            data = np.asarray(batch[b"data"] if b"data" in batch else batch["data"], dtype=np.uint8)
        except Exception as exc:
            raise DataError(f"cannot read CIFAR-10 batch {path}: {exc}") from None
        if data.ndim != 2 or data.shape[1] != 3072:
            raise DataError(f"CIFAR-10 batch {path} has data of shape {data.shape}, expected [N, 3072]")
        arrays.append(data)
    return torch.from_numpy(np.concatenate(arrays)).reshape(-1, 3, 32, 32)


class _CifarDataset(Dataset):
    def __init__(self, data: Tensor, size: int, flip_seed: int | None):
        self.data, self.size, self.flip_seed = data, size, flip_seed

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int) -> Tensor:
        image = _resize(self.data[index], self.size, self.size)
        if self.flip_seed is not None:
            g = torch.Generator().manual_seed(self.flip_seed * 1_000_003 + index)
            if torch.rand(1, generator=g).item() < 0.5:
                image = image.flip(-1)
        return image


# ----------------------------------------------------------------------------- entry point


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
    if "+" in spec and not spec.startswith(("folder:", "cifar10:")):
        return _mixed(spec, split, size, seed=seed, length=length, limit=limit, skip_bad=skip_bad,
                      resize_small=resize_small)
    kind, _, arg = spec.partition(":")
    if kind == "deadleaves":
        from genjscc.procedural import DeadLeaves

        if split == "train":
            return DeadLeaves(size, length, seed=seed, palette=photo_palette())
        count = PROCEDURAL_TEST_IMAGES if limit is None else min(limit, PROCEDURAL_TEST_IMAGES)
        return DeadLeaves(size, count, seed=PROCEDURAL_TEST_SEED, palette=photo_palette())
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
        return FixedDataset([_centre_square(im.load(), size) for im in images[:limit]])
    if kind == "cifar10":
        if not arg:
            raise DataError("CIFAR-10 datasets are written cifar10:PATH")
        data = load_cifar10(arg, split)
        if limit is not None:
            data = data[:limit]
        return _CifarDataset(data, size, seed if split == "train" else None)
    raise DataError(f"unknown dataset {spec!r}; use photos, deadleaves, folder:PATH, cifar10:PATH "
                    "or a mix such as photos+deadleaves@0.5")


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


def _unit_hash(seed: int, index: int) -> float:
    """A uniform number in [0, 1) that depends only on (seed, index) (splitmix64)."""
    z = (seed * 0x9E3779B97F4A7C15 + index * 0xBF58476D1CE4E5B9 + 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return ((z ^ (z >> 31)) >> 11) / float(1 << 53)


class MixedDataset(Dataset):
    """Item ``i`` is ``second[i]`` when ``hash(seed, i) < fraction``, else ``first[i]`` (deterministic).

    Batches are fetched per source with ``__getitems__`` where a source has it (the
    procedural generator renders a whole batch at once).
    """

    def __init__(self, first: Dataset, second: Dataset, fraction: float, seed: int = 0):
        self.first, self.second, self.fraction, self.seed = first, second, fraction, seed
        self.length = min(len(first), len(second))

    def __len__(self) -> int:
        return self.length

    def _source(self, index: int) -> Dataset:
        return self.second if _unit_hash(self.seed, index) < self.fraction else self.first

    def __getitem__(self, index: int) -> Tensor:
        return self._source(index)[index]

    def __getitems__(self, indices: list[int]) -> list[Tensor]:
        out: list[Tensor | None] = [None] * len(indices)
        for source in (self.first, self.second):
            mine = [(k, i) for k, i in enumerate(indices) if self._source(i) is source]
            if not mine:
                continue
            if hasattr(source, "__getitems__"):
                items = source.__getitems__([i for _, i in mine])
            else:
                items = [source[i] for _, i in mine]
            for (k, _), item in zip(mine, items):
                out[k] = item
        return out


@lru_cache(maxsize=4)
def photo_palette(count: int = 4096, seed: int = 0) -> Tensor:
    """``count`` RGB colours ``[count, 3]`` in [0, 1] drawn from the training photos' pixels (equal share per photo)."""
    g = torch.Generator().manual_seed(seed)
    images = photo_images("train")
    which = torch.randint(len(images), (count,), generator=g)
    colours = torch.empty(count, 3)
    for k, image in enumerate(images):
        chosen = (which == k).nonzero().flatten()
        flat = image.flatten(1)
        picks = torch.randint(flat.shape[1], (len(chosen),), generator=g)
        colours[chosen] = flat[:, picks].T.float() / 255
    return colours


def stack(dataset: Dataset, limit: int | None = None) -> Tensor:
    """All (or the first ``limit``) items of a dataset as one tensor ``[N, 3, S, S]``."""
    n = len(dataset) if limit is None else min(limit, len(dataset))
    return torch.stack([dataset[i] for i in range(n)])


MEAN_IMAGE_CROPS = 2000


@lru_cache(maxsize=8)
def _mean_square(spec: str, size: int) -> Tensor:
    return stack(load_dataset(spec, "train", size, length=MEAN_IMAGE_CROPS)).mean(dim=0)


def training_mean_image(spec: str, height: int, width: int) -> Tensor:
    """Mean of 2000 training crops of dataset ``spec``: ``[3, H, W]`` in [0, 1] (cached per process).

    Crops are squares of side max(H, W), resized to H x W when the image is not square. The
    separation baselines send this image when a file does not fit or is lost.
    """
    side = max(height, width)
    side = side + (-side) % 8  # datasets crop to multiples of 8
    mean = _mean_square(spec, side)
    if (height, width) != (side, side):
        mean = F.interpolate(mean.unsqueeze(0), size=(height, width), mode="bilinear", antialias=True,
                             align_corners=False).squeeze(0)
    return mean


def crop_pool(spec: str, size: int, count: int, *, seed: int = 0, workers: int = 0, **options) -> FixedDataset:
    """A fixed pool of ``count`` training crops, stored as uint8 ``[3, S, S]`` (4x less memory than float).

    Items are uint8; a training step converts them (``x / 255``). Built once, in parallel when
    ``workers > 0``; a pool is fast where crops are the bottleneck (GPU training).
    """
    from torch.utils.data import DataLoader

    source = load_dataset(spec, "train", size, seed=seed, length=count, **options)
    loader = DataLoader(source, batch_size=256, num_workers=workers)
    crops = torch.cat([(b * 255).round().to(torch.uint8) for b in loader])
    return FixedDataset(list(crops))


class StreamSampler(Sampler[int]):
    """An endless stream of dataset indices that can start at any iteration: resumable, and
    split between data-parallel processes by construction.

    Epoch ``e`` is a permutation of ``range(length)`` drawn from a generator seeded by
    ``(seed, e)``; the stream is the concatenation of the epochs. Iteration ``t`` of a run with
    ``W`` processes and ``batch_size`` ``B`` per process uses stream items
    ``[t W B, (t + 1) W B)``, of which process ``r`` takes ``[t W B + r B, t W B + (r + 1) B)``,
    so ``W`` processes see exactly the batch one process with ``W B`` would. ``start_iteration``
    skips the iterations already done (resume). ``W`` and ``r`` are read from
    ``torch.distributed`` when iteration begins (1 and 0 without a process group); the trainer
    must not wrap this sampler in a ``DistributedSampler``.
    """

    def __init__(self, length: int, *, seed: int = 0, start_iteration: int = 0, batch_size: int = 1):
        if length < 1:
            raise ValueError(f"StreamSampler needs a non-empty dataset, got length {length}")
        self.length, self.seed, self.start_iteration, self.batch_size = length, seed, start_iteration, batch_size

    def _epoch(self, epoch: int) -> Tensor:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        return torch.randperm(self.length, generator=g)

    def _stream(self, start: int):
        epoch, offset = divmod(start, self.length)
        while True:
            for index in self._epoch(epoch)[offset:].tolist():
                yield index
            epoch, offset = epoch + 1, 0

    def __iter__(self):
        import torch.distributed as dist

        world, rank = 1, 0
        if dist.is_available() and dist.is_initialized():
            world, rank = dist.get_world_size(), dist.get_rank()
        chunk = self.batch_size * world
        stream = self._stream(self.start_iteration * chunk)
        while True:
            items = [next(stream) for _ in range(chunk)]
            yield from items[rank * self.batch_size : (rank + 1) * self.batch_size]