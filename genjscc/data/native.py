"""Whole test images at their own size (``--size native``), and the one reader of ``--size``.

``--size S`` means S x S test crops (:func:`genjscc.data.load_dataset`); ``--size native`` means every
test image whole, at its own height H and width W, nothing cropped or resized:

* ``photos``: the three held-out photographs (chelsea 451x300, coffee 600x400, flower 640x427, W x H);
* ``folder:PATH``: every test image of the folder (``PATH/test`` when PATH has ``train/`` and ``test/``,
  else the hashed 10 %), loaded one at a time when asked for, so a folder of large images is never in
  memory at once;
* ``cifar10:PATH``: the test batch at its own 32 x 32;
* a mix ``A+B[@f]`` tests on A, as at ``--size S``.

Procedural and sampled data (``deadleaves``, ``prior:NAME``) have no size of their own (they are drawn at
the size asked for) and are refused with a message naming ``--size S``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Callable, Union

from torch import Tensor

from genjscc.data.files import FolderImages, load_cifar10
from genjscc.data.photos import PHOTO_SPLIT, photo_images
from genjscc.data.specs import load_dataset, stack
from genjscc.utils.images import DataError

__all__ = ["NATIVE", "NativeImages", "held_out_images", "native_test_images", "parse_size"]

NATIVE = "native"

Size = Union[int, str]  # a side S in pixels, or NATIVE


def parse_size(value, what: str = "--size") -> Size:
    """``"native"`` (any case) or a whole number of pixels (returned as int); else a ``ValueError`` naming ``what``."""
    text = str(value).strip()
    if text.lower() == NATIVE:
        return NATIVE
    if isinstance(value, bool) or not text.isdigit():
        raise ValueError(f"{what} must be a side in pixels (e.g. 64, for 64x64 crops) or native (whole images at "
                         f"their own size), got {value!r}")
    return int(text)


@dataclass(frozen=True, eq=False)
class NativeImages(Sequence):
    """Test images at their own size, each read when asked for: item ``i`` is ``[3, H_i, W_i]`` float in [0, 1].

    ``sizes[i]`` is ``(H_i, W_i)`` (known without reading the pixels, so evaluation groups the images by
    size and checks a scheme's sizes before any work); ``names[i]`` says where image ``i`` comes from.
    """

    names: tuple[str, ...]
    sizes: tuple[tuple[int, int], ...]
    loaders: tuple[Callable[[], Tensor], ...]

    def __len__(self) -> int:
        return len(self.loaders)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return NativeImages(self.names[index], self.sizes[index], self.loaders[index])
        image = self.loaders[index]()
        if image.dim() != 3 or image.shape[0] != 3 or tuple(image.shape[1:]) != tuple(self.sizes[index]):
            raise DataError(f"{self.names[index]} changed since it was listed: it is {tuple(image.shape)}, "
                            f"expected 3x{self.sizes[index][0]}x{self.sizes[index][1]}; run the command again")
        return image


def _as_float(image: Tensor) -> Tensor:
    """uint8 ``[3, H, W]`` -> float in [0, 1], as :func:`genjscc.data.transforms.resize` converts it."""
    return (image.float() / 255.0).clamp(0, 1)


def native_test_images(spec: str, *, limit: int | None = None, skip_bad: bool = False) -> NativeImages:
    """The test images ``spec`` names, whole, at their own size (see the module docstring); ``limit``: the first N."""
    if limit is not None and limit < 1:
        raise DataError(f"--limit must be at least 1, got {limit}")
    if "+" in spec and not spec.startswith(("folder:", "cifar10:", "prior:")):
        return native_test_images(spec.partition("+")[0], limit=limit, skip_bad=skip_bad)
    kind, _, arg = spec.partition(":")
    if kind == "photos":
        photos = photo_images("test")
        names = tuple(f"photos:{n.split(':', 1)[1]}" for n in PHOTO_SPLIT["test"])
        images = (names, tuple(tuple(p.shape[1:]) for p in photos),
                  tuple((lambda p=p: _as_float(p)) for p in photos))
    elif kind == "folder":
        if not arg:
            raise DataError("folder datasets are written folder:PATH")
        found = FolderImages(arg, 1, skip_bad=skip_bad).split("test")
        images = (tuple(str(im.path) for im in found), tuple(im.shape_hw for im in found),
                  tuple((lambda im=im: _as_float(im.load())) for im in found))
    elif kind == "cifar10":
        if not arg:
            raise DataError("CIFAR-10 datasets are written cifar10:PATH")
        data = load_cifar10(arg, "test")
        images = (tuple(f"cifar10 test {i}" for i in range(len(data))), ((32, 32),) * len(data),
                  tuple((lambda i=i: _as_float(data[i])) for i in range(len(data))))
    elif kind in ("deadleaves", "prior"):
        raise DataError(f"{spec} images have no size of their own (they are drawn at the size asked for), so "
                        "--size native does not apply: use --size S (e.g. --size 64)")
    else:
        load_dataset(spec, "test", 64)  # the unknown-spec error, worded once
        raise DataError(f"--size native does not apply to {spec!r}")
    return NativeImages(*images)[:limit]


def held_out_images(spec: str, size: Size, *, limit: int | None = None, skip_bad: bool = False,
                resize_small: bool = False) -> Tensor | NativeImages:
    """The test images of ``spec`` at ``size``: ``[N, 3, S, S]`` crops in [0, 1] for a side S, or
    :class:`NativeImages` (each at its own H x W) for ``"native"``."""
    if size != NATIVE:
        return stack(load_dataset(spec, "test", size, limit=limit, skip_bad=skip_bad, resize_small=resize_small))
    if resize_small:
        raise DataError("--resize-small upscales images smaller than --size S; at --size native every image is sent "
                        "at its own size: leave --resize-small out")
    return native_test_images(spec, limit=limit, skip_bad=skip_bad)
