"""Map-style datasets whose item ``i`` is a deterministic function of ``(seed, i)``: random crops, fixed lists, mixes."""

from __future__ import annotations

import math
from collections import OrderedDict

import torch
from torch import Tensor
from torch.utils.data import Dataset

from genjscc.data.transforms import resize

__all__ = ["CropDataset", "FixedDataset", "MixedDataset", "TensorPool", "CROP_SCALES"]

CROP_SCALES = ("downscaled", "native")
DECODED_CACHE_BYTES = 1 << 30  # per process: decoded folder images kept by a CropDataset


class CropDataset(Dataset):
    """Random square crops of a list of images, resized to S x S and randomly flipped.

    Item ``i`` depends only on ``(seed, i)``. ``scale="downscaled"``: the crop side is ``short * u`` with
    ``u = min_fraction ** r``, ``r ~ U(0, 1)`` (log-uniform in [min_fraction, 1]), resized to S.
    ``scale="native"``: S x S pixels cut at the image's own scale (what a network sees when it is sent
    whole images at their own size).
    """

    def __init__(self, images, size: int, *, length: int = 50_000, seed: int = 0, min_fraction: float = 0.25,
                 scale: str = "downscaled"):
        if scale not in CROP_SCALES:
            raise ValueError(f"crop scale must be one of {', '.join(CROP_SCALES)}, got {scale!r}")
        self.images = images
        self.size, self.length, self.seed, self.min_fraction = size, length, seed, min_fraction
        self.native = scale == "native"
        self._decoded: OrderedDict[int, Tensor] = OrderedDict()  # files decoded lately, most recent last
        self._decoded_bytes = 0
        self._pyramids: dict[int, list[Tensor]] = {}  # in-memory images: halved copies for fast crops

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> Tensor:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + index)
        which = int(torch.randint(len(self.images), (1,), generator=g))  # every image equally often
        image = self._load(which)
        h, w = image.shape[-2:]
        short = min(h, w)
        r = torch.rand(3, generator=g)
        side = max(self.size, min(short, round(short * self.min_fraction ** r[0].item())))
        if self.native:
            side = self.size
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
        crop = resize(image[:, y0 : y0 + s0, x0 : x0 + s0], self.size, self.size)
        if torch.rand(1, generator=g).item() < 0.5:
            crop = crop.flip(-1)
        return crop


    def _load(self, which: int) -> Tensor:
        """Image ``which`` as uint8 ``[3, H, W]``; files stay decoded while they fit in
        :data:`DECODED_CACHE_BYTES` (least recently used dropped first): decoding a photograph costs far
        more than cutting a crop from it, and a small folder then decodes each file once per process."""
        image = self.images[which]
        if isinstance(image, Tensor):
            return image
        if which in self._decoded:
            self._decoded.move_to_end(which)
            return self._decoded[which]
        decoded = image.load()
        self._decoded[which] = decoded
        self._decoded_bytes += decoded.nbytes
        while self._decoded_bytes > DECODED_CACHE_BYTES and len(self._decoded) > 1:
            self._decoded_bytes -= self._decoded.popitem(last=False)[1].nbytes
        return decoded

    def _pyramid(self, which: int) -> list[Tensor]:
        if which not in self._pyramids:
            levels = [self.images[which]]
            while min(levels[-1].shape[-2:]) >= 2 * self.size:
                h, w = levels[-1].shape[-2:]
                levels.append((resize(levels[-1], h // 2, w // 2) * 255).round().byte())
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


class TensorPool(Dataset):
    """Images stacked in one tensor ``[N, 3, S, S]`` (any dtype, on any device).

    ``__getitems__`` returns a whole batch ``[B, 3, S, S]`` with one indexing operation on the
    pool's device, so a DataLoader with ``collate_fn=``:func:`pass_batch` (and no workers) hands
    the training step a batch that is already on the GPU: no per-item stacking, no copy. The
    indices travel to the device without blocking.
    """

    def __init__(self, images: Tensor):
        self.images = images

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, index: int) -> Tensor:
        return self.images[index]

    def __getitems__(self, indices: list[int]) -> Tensor:
        index = torch.as_tensor(indices, dtype=torch.long)
        return self.images[index.to(self.images.device, non_blocking=True)]

    def to(self, device) -> "TensorPool":
        return TensorPool(self.images.to(device))


def pass_batch(batch: Tensor) -> Tensor:
    """``collate_fn`` for :class:`TensorPool`: the batch is already one tensor."""
    return batch


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
        sources = [self._source(i) for i in indices]  # one hash per item
        for source in (self.first, self.second):
            mine = [(k, i) for k, (i, s) in enumerate(zip(indices, sources)) if s is source]
            if not mine:
                continue
            if hasattr(source, "__getitems__"):
                items = source.__getitems__([i for _, i in mine])
            else:
                items = [source[i] for _, i in mine]
            for (k, _), item in zip(mine, items):
                out[k] = item
        return out
