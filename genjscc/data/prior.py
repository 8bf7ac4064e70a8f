"""In-range data: images sampled from a StyleGAN2 prior with fixed seeds (``prior:NAME`` datasets).

On such images the prior is exact, so a scheme that decodes with the same prior (InverseJSCC,
GenerativeJSCC) is measured apart from the prior's quality. Item ``i`` is
``(G(z_i, truncation_psi, noise_mode="const") + 1) / 2`` clamped to [0, 1], with
``z_i ~ N(0, I)`` drawn from ``torch.Generator().manual_seed(s_i)``:

* training item ``i`` (of run seed ``s``): ``s_i = s * 1_000_003 + i`` (below 2^40 for any sane run);
* test image ``i``: ``s_i = 2^40 + i`` — a seed range no training item reaches.

The truncation ``psi`` (default :data:`DEFAULT_TRUNCATION`) is part of the spec
(``prior:NAME@0.7``) and kept as the dataset's ``truncation`` attribute. With ``with_latents=True``
an item is ``(image, w)``: ``w [w_dim]`` is the truncated latent that made it (every w+ row equals
it), the target of GenerativeJSCC's latent term.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.utils.data import Dataset

from genjscc.models.stylegan2.sampling import DEFAULT_TRUNCATION, sample_images

__all__ = ["PriorSamples", "prior_dataset", "parse_prior_spec", "DEFAULT_TRUNCATION", "TEST_SEED_OFFSET",
           "PRIOR_TEST_IMAGES"]

TEST_SEED_OFFSET = 2**40
PRIOR_TEST_IMAGES = 256


class PriorSamples(Dataset):
    """``count`` images ``[3, R, R]`` in [0, 1] from ``generator`` (item ``i`` from seed ``first_seed + i``).

    ``__getitems__`` generates a whole batch with one forward pass (the DataLoader uses it);
    ``cache=True`` generates every item once, up front (test sets); ``with_latents=True`` makes
    items ``(image, w [w_dim])`` pairs.
    """

    def __init__(self, generator: nn.Module, count: int, first_seed: int, truncation: float = DEFAULT_TRUNCATION,
                 *, cache: bool = False, batch: int = 64, with_latents: bool = False):
        self.generator = generator.eval().requires_grad_(False)
        self.count, self.first_seed, self.truncation, self.batch = count, first_seed, float(truncation), batch
        self.with_latents = with_latents
        self._cached: tuple[Tensor, Tensor] | None = None
        if cache:
            parts = [self._generate(range(i, min(i + batch, count))) for i in range(0, count, batch)]
            self._cached = (torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts]))

    def __len__(self) -> int:
        return self.count

    def _generate(self, indices) -> tuple[Tensor, Tensor]:
        """Images ``[N, 3, R, R]`` in [0, 1] and their truncated latents ``[N, w_dim]``."""
        return sample_images(self.generator, [self.first_seed + i for i in indices], self.truncation, return_latents=True)

    def _items(self, images: Tensor, ws: Tensor) -> list:
        return list(zip(images, ws)) if self.with_latents else list(images)

    def __getitem__(self, index: int):
        if not 0 <= index < self.count:
            raise IndexError(index)
        if self._cached is not None:
            return self._items(self._cached[0][index : index + 1], self._cached[1][index : index + 1])[0]
        return self._items(*self._generate([index]))[0]

    def __getitems__(self, indices: list[int]) -> list:
        if self._cached is not None:
            return self._items(self._cached[0][indices], self._cached[1][indices])
        return self._items(*self._generate(indices))


@lru_cache(maxsize=4)
def _generator(path: str) -> nn.Module:
    from genjscc.models.stylegan2 import load_stylegan2

    # building the network draws initial weights: keep the caller's RNG untouched, or a run would
    # draw other noise depending on whether this process loaded the prior before (cache hit)
    with torch.random.fork_rng(devices=[]):
        return load_stylegan2(path).eval().requires_grad_(False)


def parse_prior_spec(arg: str) -> tuple[str, float]:
    """``(NAME, psi)`` of spec ``prior:ARG`` (``ARG = NAME`` or ``NAME@PSI``, psi a number in [0, 1],
    :data:`DEFAULT_TRUNCATION` when not given); anything else is a ``DataError`` that shows the form."""
    import math

    from genjscc.utils.images import DataError

    name, at, psi_text = arg.rpartition("@") if "@" in arg else (arg, "", "")
    if not name:
        raise DataError("prior datasets are written prior:NAME or prior:NAME@PSI (a zoo name or a .safetensors path)")
    if at and not psi_text.strip():
        raise DataError(f"prior:{arg} has no truncation after '@': write prior:{name}@0.7, or prior:{name} for "
                        f"the default {DEFAULT_TRUNCATION}")
    try:
        psi = float(psi_text) if at else DEFAULT_TRUNCATION
    except ValueError:
        raise DataError(f"cannot read the truncation in prior:{arg}: write e.g. prior:{name}@0.7") from None
    if not (math.isfinite(psi) and 0 <= psi <= 1):
        raise DataError(f"the truncation in prior:{arg} must be a number in [0, 1] (1: no truncation), got {psi_text}")
    return name, psi


def prior_dataset(arg: str, split: str, size: int, *, seed: int = 0, length: int = 50_000,
                  limit: int | None = None, with_latents: bool = False) -> PriorSamples:
    """The dataset of spec ``prior:ARG``, ``ARG = NAME`` or ``NAME@PSI`` (zoo name or weight path);
    ``with_latents``: items are ``(image, w)`` pairs."""
    from genjscc.utils.images import DataError
    from genjscc.zoo import resolve_model

    name, psi = parse_prior_spec(arg)
    try:
        path = resolve_model(name)
    except FileNotFoundError as exc:
        raise DataError(f"prior:{arg}: {exc}") from None
    generator = _generator(str(Path(path).resolve()))
    if generator.img_resolution != size:
        raise DataError(f"prior:{name} generates {generator.img_resolution}x{generator.img_resolution} images, "
                        f"not {size}x{size}: use --size {generator.img_resolution}")
    if split == "train":
        return PriorSamples(generator, length, seed * 1_000_003, psi, with_latents=with_latents)
    count = PRIOR_TEST_IMAGES if limit is None else min(limit, PRIOR_TEST_IMAGES)
    return PriorSamples(generator, count, TEST_SEED_OFFSET, psi, cache=True, with_latents=with_latents)
