"""The embedded photographs: whole-image train/test split, fixed test tiles, a colour palette."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

import torch
from torch import Tensor

from genjscc.data.transforms import resize
from genjscc.utils.images import DataError, open_image, uint8_chw

__all__ = ["PHOTO_SPLIT", "Split", "photo_images", "grid_crops", "photo_palette"]

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
    with open_image(path) as im:
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
        resized = resize(image, new_h, new_w)
        rows, cols = new_h // size, new_w // size
        top, left = (new_h - rows * size) // 2, (new_w - cols * size) // 2
        for r in range(rows):
            for c in range(cols):
                y, x = top + r * size, left + c * size
                crops.append(resized[:, y : y + size, x : x + size].contiguous())
    return crops


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
