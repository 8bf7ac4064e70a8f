"""Procedural "dead leaves" images with natural-image statistics (vectorised torch generator).

The dead-leaves model (Matheron; used as pre-training data by Achddou et al. 2021 and Baradad
et al., NeurIPS 2021) stacks opaque random shapes. Leaves are drawn **front to back**; a pixel
shows the first leaf that covers it, and drawing stops when every pixel is covered (or after
``max_leaves``; pixels still bare then show a background colour). Per leaf:

* radius ``r`` with density :math:`p(r) \\propto r^{-\\alpha}` on ``[r_min, r_max]`` px
  (:math:`\\alpha = 3` is scale invariant and gives a :math:`1/f^2` power spectrum), drawn by the
  inverse CDF :math:`r = (r_{min}^{1-\\alpha} - u (r_{min}^{1-\\alpha} - r_{max}^{1-\\alpha}))^{1/(1-\\alpha)}`;
* shape: an axis-aligned rectangle with half-sides ``(r, rho r)`` (fraction ``rect_fraction``),
  else an axis-aligned ellipse with semi-axes ``(r, rho r)`` (fraction ``ellipse_fraction`` of
  the rest) or a disc of radius ``r``; ``rho ~ U(aspect_min, 1)``, long axis x or y at random;
* centre uniform on the window dilated by the leaf's half-extent ``e = max(a, b)``, so every
  pixel is covered at the same rate (corners are not starved);
* colour ``c``: with probability ``palette_fraction`` a row of ``palette`` (pixels of training
  photos), else uniform in ``[0, 1]^3``; shading adds a linear ramp
  :math:`c + k \\, ((p - \\mathrm{centre}) \\cdot (\\cos\\theta, \\sin\\theta)) / e`,
  ``k ~ U(-shading, shading)``, ``theta ~ U(0, 2 pi)``.

The image is then blurred by a Gaussian of ``sigma ~ U(0, blur_sigma_max)`` px, gets white
Gaussian noise of std ``noise_sigma`` and is clamped to ``[0, 1]``.

Each image is a deterministic function of ``(seed, index)``: it draws from its own
``torch.Generator`` seeded by a hash of the pair, in a fixed order (image-level numbers, blocks
of :data:`LEAF_BLOCK` leaves, noise), so an image does not depend on the batch it is made in.

Rasterisation is vectorised over the whole batch: each block of leaves is either stamped into
the per-pixel "first leaf" map by a ``scatter_reduce(amin)`` over per-leaf bounding boxes
(leaves grouped by box size), or, once few pixels are left bare, tested densely against only
those pixels. Both paths evaluate the same float32 inside-test, so they agree bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import Dataset

__all__ = ["DeadLeavesConfig", "dead_leaves", "DeadLeaves", "LEAF_BLOCK"]

LEAF_BLOCK = 256  # leaves drawn (and rasterised) per round; part of the random stream layout
_BARE = torch.iinfo(torch.int32).max  # label of a pixel no leaf covers yet
_NUM_LEAF_DRAWS = 13  # uniforms per leaf, see _leaf_block
_NUM_IMAGE_DRAWS = 6  # uniforms per image: blur, background source, palette row, background rgb


@dataclass(frozen=True)
class DeadLeavesConfig:
    """Knobs of the generator; defaults are the recipe measured in facts.md section 11."""

    radius_min: float = 1.0  # px, smallest leaf radius
    radius_max: float | None = None  # px, largest leaf radius; None: the image size
    radius_exponent: float = 3.0  # alpha in p(r) ∝ r^-alpha
    rect_fraction: float = 0.3  # share of axis-aligned rectangles
    ellipse_fraction: float = 0.0  # share of ellipses among the non-rectangles (others are discs)
    aspect_min: float = 0.5  # short/long side ratio rho ~ U(aspect_min, 1) of rectangles and ellipses
    palette_fraction: float = 0.8  # share of leaf colours taken from the palette (when one is given)
    shading: float = 0.2  # max |k| of the linear shading ramp, in colour units across a half-extent
    blur_sigma_max: float = 1.0  # px, Gaussian blur sigma ~ U(0, blur_sigma_max)
    noise_sigma: float = 0.01  # std of the additive white Gaussian noise
    max_leaves: int | None = None  # cap on leaves per image; None: size^2 (bare fraction ~exp(-E[area]))

    def __post_init__(self):
        if not 0 < self.radius_min:
            raise ValueError(f"radius_min must be > 0, got {self.radius_min}")
        if self.radius_max is not None and self.radius_max < self.radius_min:
            raise ValueError(f"radius_max {self.radius_max} < radius_min {self.radius_min}")
        for name in ("rect_fraction", "ellipse_fraction", "palette_fraction"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if not 0 < self.aspect_min <= 1:
            raise ValueError(f"aspect_min must be in (0, 1], got {self.aspect_min}")
        if self.blur_sigma_max < 0 or self.noise_sigma < 0 or self.shading < 0:
            raise ValueError("blur_sigma_max, noise_sigma and shading must be >= 0")
        if self.max_leaves is not None and self.max_leaves < 1:
            raise ValueError(f"max_leaves must be >= 1, got {self.max_leaves}")


# ----------------------------------------------------------------------------- randomness


def _image_seed(seed: int, index: int) -> int:
    """SplitMix64 hash of ``(seed, index)`` -> a 63-bit generator seed."""
    mask = (1 << 64) - 1
    z = (int(seed) * 0x9E3779B97F4A7C15 + int(index) * 0xD1B54A32D192ED03 + 0x632BE59BD9B4E019) & mask
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
    return (z ^ (z >> 31)) >> 1


def _radii(u: Tensor, r_min: float, r_max: float, alpha: float) -> Tensor:
    """Inverse CDF of p(r) ∝ r^-alpha on [r_min, r_max]; u ~ U(0, 1) -> r (same shape)."""
    if abs(alpha - 1.0) < 1e-9:  # log-uniform
        return r_min * (r_max / r_min) ** u
    p = 1.0 - alpha
    lo, hi = r_min**p, r_max**p
    return (lo + u * (hi - lo)) ** (1.0 / p)


# ----------------------------------------------------------------------------- geometry


@dataclass
class _Leaves:
    """One block of leaves for some images, each field ``[n_images, LEAF_BLOCK]``."""

    cx: Tensor  # centre x, px (pixel j spans [j, j+1))
    cy: Tensor  # centre y, px
    a: Tensor  # half-extent along x, px
    b: Tensor  # half-extent along y, px
    rect: Tensor  # bool, rectangle (else disc/ellipse)
    valid: Tensor  # bool, False past max_leaves
    render: Tensor  # [n_images, LEAF_BLOCK, 8]: cx, cy, e, r, g, b, k, theta


def _leaf_block(u: Tensor, size: int, cfg: DeadLeavesConfig, palette: Tensor | None, first: int, cap: int) -> _Leaves:
    """Turn uniforms ``u [n, LEAF_BLOCK, 13]`` into leaves; ``first`` is the block's first leaf number."""
    r_max = float(cfg.radius_max if cfg.radius_max is not None else size)
    r = _radii(u[..., 2], cfg.radius_min, r_max, cfg.radius_exponent)
    rect = u[..., 3] < cfg.rect_fraction
    ellipse = ~rect & (u[..., 3] < cfg.rect_fraction + (1 - cfg.rect_fraction) * cfg.ellipse_fraction)
    rho = torch.where(rect | ellipse, cfg.aspect_min + (1 - cfg.aspect_min) * u[..., 4], torch.ones_like(r))
    x_long = u[..., 5] < 0.5
    a = torch.where(x_long, r, rho * r)
    b = torch.where(x_long, rho * r, r)
    cx = -r + u[..., 0] * (size + 2 * r)  # r = max(a, b): dilated window
    cy = -r + u[..., 1] * (size + 2 * r)
    numbers = first + torch.arange(u.shape[1])
    valid = (numbers < cap).expand_as(r)

    colour = u[..., 8:11]
    if palette is not None:
        rows = (u[..., 7] * palette.shape[0]).long().clamp_(max=palette.shape[0] - 1)
        colour = torch.where((u[..., 6] < cfg.palette_fraction)[..., None], palette[rows], colour)
    k = cfg.shading * (2 * u[..., 11] - 1)
    theta = 2 * math.pi * u[..., 12]
    render = torch.cat([cx[..., None], cy[..., None], r[..., None], colour, k[..., None], theta[..., None]], dim=-1)
    return _Leaves(cx, cy, a, b, rect, valid, render)


def _axis_terms(centre_px: Tensor, c: Tensor, half: Tensor, rect: Tensor, keep: Tensor) -> Tensor:
    """Per-axis inside term: ((p + 0.5 - c) / half)^2, or 0/inf for rectangles; inf where not ``keep``.

    The leaf covers a pixel iff the x term plus the y term is <= 1. Both rasterisers call this
    with broadcastable operands, so they compute identical float32 values.
    """
    q = (centre_px - c) / half
    t = q * q
    t = torch.where(rect, torch.where(t <= 1, 0.0, math.inf), t)
    return torch.where(keep, t, math.inf)


def _box_sides(size: int) -> list[int]:
    """Candidate bounding-box sides (ratio ~1.4), the last one the whole image."""
    sides, s = [], 2
    while s < size:
        sides.append(s)
        s = max(s + 1, round(s * 1.4))
    return [*sides, size]


def _raster_boxes(label: Tensor, rows: Tensor, leaves: _Leaves, first: int, size: int) -> None:
    """Stamp leaves into ``label [N*S*S]`` (min leaf number per pixel) via their bounding boxes.

    ``rows [n]`` are the images (batch rows) the ``leaves`` fields ``[n, LEAF_BLOCK]`` belong to.
    """
    n, block = leaves.cx.shape
    img = rows[:, None].expand(n, block).reshape(-1)
    number = (first + torch.arange(block, dtype=torch.int32)).repeat(n)
    cx, cy, a, b = (t.reshape(-1) for t in (leaves.cx, leaves.cy, leaves.a, leaves.b))
    rect, valid = leaves.rect.reshape(-1), leaves.valid.reshape(-1)
    sides = _box_sides(size)
    # pixel centres j + 0.5 within [c - a, c + a] need floor(2a) + 1 columns at most
    need = torch.floor(2 * torch.maximum(a, b)).long() + 1
    bucket = torch.bucketize(need, torch.tensor(sides)).clamp_(max=len(sides) - 1)
    # leaves entirely outside the window or past the cap draw nothing
    visible = valid & (cx + a > 0) & (cx - a < size) & (cy + b > 0) & (cy - b < size)
    for k in bucket[visible].unique().tolist():
        sel = (visible & (bucket == k)).nonzero().squeeze(1)
        side = sides[k]
        offsets = torch.arange(side)
        if side >= size:  # the whole window
            j0 = torch.zeros(len(sel), dtype=torch.long)
            i0 = j0
        else:
            j0 = torch.ceil(cx[sel] - a[sel] - 0.5).long()
            i0 = torch.ceil(cy[sel] - b[sel] - 0.5).long()
        cols, lines = j0[:, None] + offsets, i0[:, None] + offsets  # [m, side]
        r_sel = rect[sel, None]
        u = _axis_terms(cols.float() + 0.5, cx[sel, None], a[sel, None], r_sel, (cols >= 0) & (cols < size))
        v = _axis_terms(lines.float() + 0.5, cy[sel, None], b[sel, None], r_sel, (lines >= 0) & (lines < size))
        inside = (u[:, None, :] + v[:, :, None]) <= 1  # [m, side(y), side(x)]
        base = img[sel, None] * (size * size) + lines.clamp(0, size - 1) * size  # [m, side]
        index = base[:, :, None] + cols.clamp(0, size - 1)[:, None, :]
        value = torch.where(inside, number[sel, None, None], _BARE)
        label.scatter_reduce_(0, index.reshape(-1), value.reshape(-1), "amin")


def _raster_bare_pixels(label: Tensor, rows: Tensor, leaves: _Leaves, first: int, size: int) -> None:
    """Test only the still-bare pixels of images ``rows`` against all leaves of the block."""
    label2 = label.view(-1, size * size)
    which, pixel = (label2[rows] == _BARE).nonzero(as_tuple=True)  # [U] each
    if len(pixel) == 0:
        return
    px = (pixel % size).float() + 0.5
    py = torch.div(pixel, size, rounding_mode="floor").float() + 0.5
    rect, valid = leaves.rect[which], leaves.valid[which]  # [U, LEAF_BLOCK]
    u = _axis_terms(px[:, None], leaves.cx[which], leaves.a[which], rect, valid)
    v = _axis_terms(py[:, None], leaves.cy[which], leaves.b[which], rect, valid)
    inside = (u + v) <= 1
    hit = inside.any(dim=1)
    firsts = inside.to(torch.uint8).argmax(dim=1)  # first True: the front-most leaf
    label2[rows[which[hit]], pixel[hit]] = (first + firsts[hit]).to(torch.int32)


# ----------------------------------------------------------------------------- post-processing


def _gaussian_blur(x: Tensor, sigma: Tensor, radius: int) -> Tensor:
    """Separable Gaussian blur, per-image ``sigma [N]`` px, of ``x [N, 3, S, S]`` (reflect padding).

    Written as a weighted sum of shifted copies so each image's result is independent of the batch.
    """
    if radius == 0:
        return x
    taps = torch.arange(-radius, radius + 1, dtype=x.dtype)
    w = torch.exp(-0.5 * (taps / sigma.clamp(min=1e-3)[:, None]) ** 2)  # [N, T]
    w = (w / w.sum(dim=1, keepdim=True))[:, :, None, None, None]
    s = x.shape[-1]
    xp = F.pad(x, (radius, radius, 0, 0), mode="reflect")
    x = sum(w[:, t] * xp[..., t : t + s] for t in range(len(taps)))
    xp = F.pad(x, (0, 0, radius, radius), mode="reflect")
    return sum(w[:, t] * xp[..., t : t + s, :] for t in range(len(taps)))


def _render(label: Tensor, params: Tensor, size: int) -> Tensor:
    """Colour each pixel from its leaf: ``label [N, S*S]`` into ``params [N, L, 8]`` -> ``[N, 3, S, S]``."""
    p = params.gather(1, label.long()[..., None].expand(-1, -1, params.shape[-1]))  # [N, S*S, 8]
    grid = torch.arange(size, dtype=params.dtype) + 0.5
    px = grid.repeat(size)
    py = grid.repeat_interleave(size)
    ramp = ((px - p[..., 0]) * torch.cos(p[..., 7]) + (py - p[..., 1]) * torch.sin(p[..., 7])) / p[..., 2]
    rgb = p[..., 3:6] + (p[..., 6] * ramp)[..., None]
    return rgb.transpose(1, 2).reshape(-1, 3, size, size)


# ----------------------------------------------------------------------------- public API


def dead_leaves(
    indices: Sequence[int] | Tensor,
    size: int,
    *,
    seed: int = 0,
    palette: Tensor | None = None,
    config: DeadLeavesConfig | None = None,
) -> Tensor:
    """Dead-leaves images number ``indices`` of the stream ``seed``.

    Args:
        indices: ``N`` image numbers; image ``i`` depends only on ``(seed, i)`` (and the
            palette and config), not on the other indices.
        size: side ``S`` of the square images, px.
        seed: stream seed.
        palette: ``[P, 3]`` colours in [0, 1] that leaf colours are drawn from (for example
            pixels of training photos); None: all colours uniform.
        config: generator knobs (:class:`DeadLeavesConfig`); None: the defaults.

    Returns:
        images ``[N, 3, S, S]`` float32 in [0, 1].
    """
    cfg = config or DeadLeavesConfig()
    indices = [int(i) for i in (indices.tolist() if isinstance(indices, Tensor) else indices)]
    if size < 2:
        raise ValueError(f"size must be >= 2, got {size}")
    if palette is not None:
        palette = torch.as_tensor(palette, dtype=torch.float32)
        if palette.dim() != 2 or palette.shape[1] != 3 or len(palette) == 0:
            raise ValueError(f"palette must be [P, 3], got {tuple(palette.shape)}")
    n, cap = len(indices), cfg.max_leaves or size * size
    gens = [torch.Generator().manual_seed(_image_seed(seed, i)) for i in indices]
    image_u = torch.stack([torch.rand(_NUM_IMAGE_DRAWS, generator=g) for g in gens])  # [N, 6]

    label = torch.full((n * size * size,), _BARE, dtype=torch.int32)
    blocks: list[Tensor] = []  # [N, LEAF_BLOCK, 8] render parameters per block
    active = torch.arange(n)
    first = 0
    while len(active) and first < cap:
        u = torch.stack([torch.rand(LEAF_BLOCK, _NUM_LEAF_DRAWS, generator=gens[i]) for i in active.tolist()])
        leaves = _leaf_block(u, size, cfg, palette, first, cap)
        # rasterise each image by the cheaper path: boxes (cost ~ sum of box areas) or bare pixels
        bare = (label.view(n, -1)[active] == _BARE).sum(dim=1)
        box_cost = ((2 * torch.maximum(leaves.a, leaves.b)).clamp(max=size) + 2).square().sum(dim=1)
        by_pixel = 3 * bare * LEAF_BLOCK < box_cost
        if (~by_pixel).any():
            _raster_boxes(label, active[~by_pixel], _subset(leaves, ~by_pixel), first, size)
        if by_pixel.any():
            _raster_bare_pixels(label, active[by_pixel], _subset(leaves, by_pixel), first, size)
        render = torch.zeros(n, LEAF_BLOCK, 8)
        render[active] = leaves.render
        blocks.append(render)
        first += LEAF_BLOCK
        active = active[(label.view(n, -1)[active] == _BARE).any(dim=1)]

    # background (shown only where max_leaves ran out): one more "leaf" without shading
    bg = image_u[:, 3:6]
    if palette is not None:
        rows = (image_u[:, 2] * palette.shape[0]).long().clamp_(max=palette.shape[0] - 1)
        bg = torch.where((image_u[:, 1] < cfg.palette_fraction)[:, None], palette[rows], bg)
    background = torch.cat([torch.zeros(n, 2), torch.ones(n, 1), bg, torch.zeros(n, 2)], dim=1)
    params = torch.cat([*blocks, background[:, None]], dim=1)  # [N, L + 1, 8]
    label = torch.where(label == _BARE, params.shape[1] - 1, label).view(n, -1)

    images = _render(label, params, size)
    radius = math.ceil(3 * cfg.blur_sigma_max)
    images = _gaussian_blur(images, image_u[:, 0] * cfg.blur_sigma_max, min(radius, size - 1))
    if cfg.noise_sigma > 0:
        images = images + cfg.noise_sigma * torch.stack([torch.randn(3, size, size, generator=g) for g in gens])
    return images.clamp_(0.0, 1.0)


def _subset(leaves: _Leaves, keep: Tensor) -> _Leaves:
    return _Leaves(*(getattr(leaves, f)[keep] for f in ("cx", "cy", "a", "b", "rect", "valid", "render")))


class DeadLeaves(Dataset):
    """Map-style dataset of ``length`` dead-leaves images ``[3, S, S]`` in [0, 1].

    Item ``i`` equals ``dead_leaves([i], size, seed=seed, ...)[0]``. ``__getitems__`` makes a
    whole batch in one vectorised call (``torch.utils.data.DataLoader`` uses it when batching).
    """

    def __init__(
        self,
        size: int,
        length: int,
        seed: int = 0,
        palette: Tensor | None = None,
        config: DeadLeavesConfig | None = None,
    ):
        self.size, self.length, self.seed = size, length, seed
        self.palette, self.config = palette, config or DeadLeavesConfig()

    def __len__(self) -> int:
        return self.length

    def _check(self, i: int) -> int:
        if not -self.length <= i < self.length:
            raise IndexError(f"index {i} out of range for {self.length} images")
        return i % self.length

    def batch(self, indices: Sequence[int]) -> Tensor:
        """Images ``indices`` as one tensor ``[N, 3, S, S]``."""
        idx = [self._check(int(i)) for i in indices]
        return dead_leaves(idx, self.size, seed=self.seed, palette=self.palette, config=self.config)

    def __getitem__(self, i: int) -> Tensor:
        return self.batch([i])[0]

    def __getitems__(self, indices: Sequence[int]) -> list[Tensor]:
        return list(self.batch(indices).unbind(0))
