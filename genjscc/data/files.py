"""User data on disk: folders of images (checked once, loaded lazily) and CIFAR-10 python batches."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from genjscc.data.photos import Split
from genjscc.data.transforms import resize
from genjscc.utils.images import IMAGE_SUFFIXES, DataError, list_images, open_image, uint8_chw
from genjscc.utils.safe_pickle import NumpyOnlyUnpickler

__all__ = ["FolderImages", "load_cifar10", "CifarDataset"]


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
            image = (resize(image, math.ceil(h * scale), math.ceil(w * scale)) * 255).round().byte()
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
            out = [im for im in self.images if chosen in im.path.parents]
            if not out:  # the separation fallback (the training mean) and training need images here
                raise DataError(f"{chosen} holds no images: the {split} split of folder:{self.root} is empty; "
                                f"add images to {chosen}")
            return out
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


class CifarDataset(Dataset):
    def __init__(self, data: Tensor, size: int, flip_seed: int | None):
        self.data, self.size, self.flip_seed = data, size, flip_seed

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int) -> Tensor:
        image = resize(self.data[index], self.size, self.size)
        if self.flip_seed is not None:
            g = torch.Generator().manual_seed(self.flip_seed * 1_000_003 + index)
            if torch.rand(1, generator=g).item() < 0.5:
                image = image.flip(-1)
        return image
