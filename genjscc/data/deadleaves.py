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
  :math:`c + k \\, ((p - \\mathrm{centre}) \\cdot (\\cos\\theta, \\sin\\theta)) / r`,
  ``k ~ U(-shading, shading)``, ``theta ~ U(0, 2 pi)``.

The image is then blurred by a Gaussian of ``sigma ~ U(0, blur_sigma_max)`` px, gets white
Gaussian noise of std ``noise_sigma`` and is clamped to ``[0, 1]``.

Each image is a deterministic function of ``(seed, index)``: it draws from its own
``torch.Generator`` seeded by a hash of the pair, in a fixed order (image-level numbers, blocks
of :data:`LEAF_BLOCK` leaves, noise), so an image does not depend on the batch it is made in.

Rasterisation is vectorised over the whole batch: each block of leaves is either stamped into
the per-pixel "first leaf" map by a ``scatter_reduce(amin)`` over per-leaf bounding boxes
(leaves grouped by box size; boxes holding no bare pixel skipped via integral images), or, once
few pixels of an image are left bare, tested densely against only those pixels. Both paths
evaluate the same float32 inside-test, and which one an image takes depends on that image
alone. Speed: ``benchmarks/README.md``, ``deadleaves_speed.py``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import Dataset

from genjscc.utils.filters import gaussian_blur

__all__ = ["DeadLeavesConfig", "dead_leaves", "DeadLeaves", "LEAF_BLOCK"]

LEAF_BLOCK = 512  # leaves drawn (and rasterised) per round; part of the random stream layout
_BLOCK_BITS = 9  # LEAF_BLOCK = 2^_BLOCK_BITS
_PIXEL_COST = 3  # cost of one (bare pixel, leaf) test relative to one box element
_BARE = (1 << 30) - 1  # label of a pixel no leaf covers yet (leaf numbers stay below it)
_NUM_LEAF_DRAWS = 11  # uniforms per leaf, see _leaf_block
_NUM_IMAGE_DRAWS = 5  # uniforms per image: blur, background palette-or-uniform (and row), background rgb


@dataclass(frozen=True)
class DeadLeavesConfig:
    """Knobs of the generator; the defaults are the recipe the shipped DeepJSCC models train on
    (README, "Data" and the DeepJSCC ablation in "Results")."""

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
    render: Tensor  # [n_images, LEAF_BLOCK, 6]: r, g, b and the shading ramp alpha, beta, gamma


def _leaf_block(u: Tensor, size: int, cfg: DeadLeavesConfig, palette: Tensor | None, first: int, cap: int) -> _Leaves:
    """Turn uniforms ``u [n, LEAF_BLOCK, 11]`` into leaves; ``first`` is the block's first leaf number.

    Columns: 0-1 centre, 2 radius, 3 shape, 4 orientation (< 1/2: long axis x) and aspect
    (its scaled remainder), 5 palette-or-uniform and palette row (scaled remainder), 6-8 uniform
    colour, 9 shading strength, 10 shading angle.
    """
    r_max = float(cfg.radius_max if cfg.radius_max is not None else size)
    r = _radii(u[..., 2], cfg.radius_min, r_max, cfg.radius_exponent)
    rect = u[..., 3] < cfg.rect_fraction
    ellipse = ~rect & (u[..., 3] < cfg.rect_fraction + (1 - cfg.rect_fraction) * cfg.ellipse_fraction)
    x_long = u[..., 4] < 0.5
    aspect_u = torch.where(x_long, 2 * u[..., 4], 2 * u[..., 4] - 1)  # U(0, 1) given the orientation
    rho = torch.where(rect | ellipse, cfg.aspect_min + (1 - cfg.aspect_min) * aspect_u, torch.ones_like(r))
    a = torch.where(x_long, r, rho * r)
    b = torch.where(x_long, rho * r, r)
    cx = -r + u[..., 0] * (size + 2 * r)  # r = max(a, b): dilated window
    cy = -r + u[..., 1] * (size + 2 * r)
    numbers = first + torch.arange(u.shape[1])
    valid = (numbers < cap).expand_as(r)

    colour = u[..., 6:9]
    if palette is not None and cfg.palette_fraction > 0:
        from_palette = u[..., 5] < cfg.palette_fraction
        rows = (u[..., 5] / cfg.palette_fraction * palette.shape[0]).long().clamp_(max=palette.shape[0] - 1)
        colour = torch.where(from_palette[..., None], palette[rows], colour)
    # shading k ((p - c) . (cos theta, sin theta)) / r = alpha p_x + beta p_y + gamma
    k = cfg.shading * (2 * u[..., 9] - 1) / r
    theta = 2 * math.pi * u[..., 10]
    alpha, beta = k * torch.cos(theta), k * torch.sin(theta)
    gamma = -(alpha * cx + beta * cy)
    render = torch.cat([colour, alpha[..., None], beta[..., None], gamma[..., None]], dim=-1)
    return _Leaves(cx, cy, a, b, rect, valid, render)


def _axis_terms(centre_px: Tensor, c: Tensor, half: Tensor, rect: Tensor, keep: Tensor) -> Tensor:
    """Per-axis term ``t = ((p + 0.5 - c) / half)^2``, set to 0 for rectangles where ``t <= 1``; inf where not ``keep``.

    A leaf covers a pixel iff ``t_x + t_y <= 1`` (for a rectangle: both terms were <= 1). Both
    rasterisers evaluate it as ``not (t_x > 1 - t_y)`` on broadcastable operands.
    """
    q = (centre_px - c) / half
    t = q * q
    return torch.where(keep, t.masked_fill_(rect & (t <= 1), 0.0), math.inf)


def _box_sides(size: int) -> list[int]:
    """Candidate bounding-box sides (ratio ~1.4), the last one the whole image."""
    sides, s = [], 2
    while s < size:
        sides.append(s)
        s = max(s + 1, round(s * 1.4))
    return [*sides, size]


def _bare_in_box(bare_mask: Tensor, cx: Tensor, cy: Tensor, a: Tensor, b: Tensor, size: int) -> Tensor:
    """Bare pixels inside each leaf's bounding box (0 if the box misses the window), via integral images.

    ``bare_mask [n, S*S]`` bool per image; leaf fields are flat ``[n * LEAF_BLOCK]`` in row-major order.
    """
    n = len(bare_mask)
    bare = bare_mask.view(n, size, size).to(torch.int32)
    integral = F.pad(bare.cumsum(1, dtype=torch.int32).cumsum(2, dtype=torch.int32), (1, 0, 1, 0))
    integral = integral.reshape(-1)  # [n * (S+1)^2]
    # covered columns j satisfy c - a <= j + 0.5 <= c + a
    x0 = torch.ceil(cx - a - 0.5).clamp(0, size).long()
    x1 = (torch.floor(cx + a - 0.5) + 1).clamp(0, size).long()
    y0 = torch.ceil(cy - b - 0.5).clamp(0, size).long()
    y1 = (torch.floor(cy + b - 0.5) + 1).clamp(0, size).long()
    x1, y1 = torch.maximum(x1, x0), torch.maximum(y1, y0)
    base = (torch.arange(n) * (size + 1) ** 2).repeat_interleave(len(cx) // max(n, 1))
    corner = lambda y, x: integral[base + y * (size + 1) + x]  # noqa: E731
    return corner(y1, x1) - corner(y0, x1) - corner(y1, x0) + corner(y0, x0)


def _raster_boxes(
    label: Tensor, rows: Tensor, leaves: _Leaves, first: int, size: int, bare_mask: Tensor | None
) -> None:
    """Stamp leaves into ``label [N*S*S]`` (min leaf number per pixel) via their bounding boxes.

    ``rows [n]`` are the images (batch rows) the ``leaves`` fields ``[n, LEAF_BLOCK]`` belong to;
    ``bare_mask [n, S*S]`` marks their bare pixels (None: all bare).
    Leaves are grouped by box side; inside a group the leaf axis is innermost ``[side, side, m]``
    so the broadcast ops vectorise.
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
    # skip leaves past the cap and leaves whose box (clipped to the window) holds no bare pixel
    if bare_mask is None:  # everything is bare: only the window test
        visible = valid & (cx + a >= 0.5) & (cx - a <= size - 0.5) & (cy + b >= 0.5) & (cy - b <= size - 0.5)
    else:
        visible = valid & (_bare_in_box(bare_mask, cx, cy, a, b, size) > 0)
    for k in bucket[visible].unique().tolist():
        sel = (visible & (bucket == k)).nonzero().squeeze(1)
        side = sides[k]
        offsets = torch.arange(side)[:, None]  # [side, 1]
        if side >= size:  # the whole window
            j0 = torch.zeros(1, len(sel), dtype=torch.long)
            i0 = j0
        else:
            j0 = torch.ceil(cx[sel] - a[sel] - 0.5).long()[None]
            i0 = torch.ceil(cy[sel] - b[sel] - 0.5).long()[None]
        cols, lines = j0 + offsets, i0 + offsets  # [side, m]
        r_sel = rect[sel][None]
        tx = _axis_terms(cols.float() + 0.5, cx[sel][None], a[sel][None], r_sel, (cols >= 0) & (cols < size))
        ty = _axis_terms(lines.float() + 0.5, cy[sel][None], b[sel][None], r_sel, (lines >= 0) & (lines < size))
        outside = torch.gt(tx[None, :, :], (1 - ty)[:, None, :])  # [side(y), side(x), m]
        # value: the leaf number inside, number + 2^30 (> _BARE, so no effect under amin) outside
        value = number[sel][None, None] | (outside.to(torch.int32) << 30)
        base = img[sel][None] * (size * size) + lines.clamp(0, size - 1) * size  # [side, m]
        index = base[:, None, :] + cols.clamp(0, size - 1)[None, :, :]
        label.scatter_reduce_(0, index.reshape(-1), value.reshape(-1), "amin")


def _raster_bare_pixels(label: Tensor, rows: Tensor, leaves: _Leaves, first: int, size: int, bare_mask: Tensor) -> None:
    """Test only the bare pixels (``bare_mask [n, S*S]``) of images ``rows`` against all leaves of the block."""
    label2 = label.view(-1, size * size)
    which, pixel = bare_mask.nonzero(as_tuple=True)  # [U] each
    if len(pixel) == 0:
        return
    px = (pixel % size).float() + 0.5
    py = torch.div(pixel, size, rounding_mode="floor").float() + 0.5
    rect, valid = leaves.rect[which], leaves.valid[which]  # [U, LEAF_BLOCK]
    tx = _axis_terms(px[:, None], leaves.cx[which], leaves.a[which], rect, valid)
    ty = _axis_terms(py[:, None], leaves.cy[which], leaves.b[which], rect, valid)
    inside = ~torch.gt(tx, 1 - ty)
    hit = inside.any(dim=1)
    firsts = inside.to(torch.uint8).argmax(dim=1)  # first True: the front-most leaf
    label2[rows[which[hit]], pixel[hit]] = (first + firsts[hit]).to(torch.int32)


# ----------------------------------------------------------------------------- post-processing


def _render(rows: Tensor, table: Tensor, size: int) -> Tensor:
    """Colour pixels from their leaves: ``rows [N, S*S]`` index ``table [R, 6]`` -> images ``[N, 3, S, S]``.

    Table columns: colour r, g, b and a linear shading ramp; pixel centre ``p`` gets
    ``rgb + alpha p_x + beta p_y + gamma``.
    """
    n = rows.shape[0]
    p = table.index_select(0, rows.reshape(-1)).view(n, size * size, table.shape[1])
    grid = torch.arange(size, dtype=table.dtype) + 0.5
    ramp = p[..., 3] * grid.repeat(size) + p[..., 4] * grid.repeat_interleave(size) + p[..., 5]
    rgb = p[..., :3] + ramp[..., None]
    return rgb.transpose(1, 2).reshape(n, 3, size, size)


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
    if cap >= _BARE:
        raise ValueError(f"max_leaves must be < {_BARE}, got {cap}")
    if n == 0:
        return torch.zeros(0, 3, size, size)
    gens = [torch.Generator().manual_seed(_image_seed(seed, i)) for i in indices]
    image_u = torch.stack([torch.rand(_NUM_IMAGE_DRAWS, generator=g) for g in gens])  # [N, 5]

    label = torch.full((n * size * size,), _BARE, dtype=torch.int32)
    tables: list[Tensor] = []  # per block: render parameters [n_active * LEAF_BLOCK, 6]
    slots = torch.zeros(n, 0, dtype=torch.long)  # [N, blocks]: table row of each image's first leaf per block
    active = torch.arange(n)
    first, table_rows = 0, 0
    while first < cap:
        if first == 0:
            bare_mask, bare = None, torch.full((n,), size * size)
        else:  # drop the images that are covered
            bare_mask = label.view(n, -1)[active] == _BARE  # [n_active, S*S]
            bare = bare_mask.sum(dim=1)
            if not bare.all():
                active, bare_mask, bare = active[bare > 0], bare_mask[bare > 0], bare[bare > 0]
            if len(active) == 0:
                break
        u = torch.stack([torch.rand(LEAF_BLOCK, _NUM_LEAF_DRAWS, generator=gens[i]) for i in active.tolist()])
        leaves = _leaf_block(u, size, cfg, palette, first, cap)
        # rasterise each image by the cheaper path: boxes (cost ~ sum of box areas) or bare pixels
        box_cost = ((2 * torch.maximum(leaves.a, leaves.b)).clamp(max=size) + 2).square().sum(dim=1)
        by_pixel = _PIXEL_COST * bare * LEAF_BLOCK < box_cost
        if (~by_pixel).any():
            sub_mask = None if bare_mask is None else bare_mask[~by_pixel]
            _raster_boxes(label, active[~by_pixel], _subset(leaves, ~by_pixel), first, size, sub_mask)
        if by_pixel.any():
            all_bare = torch.ones(int(by_pixel.sum()), size * size, dtype=torch.bool)
            mask = all_bare if bare_mask is None else bare_mask[by_pixel]
            _raster_bare_pixels(label, active[by_pixel], _subset(leaves, by_pixel), first, size, mask)
        tables.append(leaves.render.reshape(-1, leaves.render.shape[-1]))
        slot = torch.zeros(n, 1, dtype=torch.long)
        slot[active, 0] = table_rows + torch.arange(len(active)) * LEAF_BLOCK
        slots = torch.cat([slots, slot], dim=1)
        table_rows += len(active) * LEAF_BLOCK
        first += LEAF_BLOCK

    # background (shown only where max_leaves ran out): one more "leaf" per image without shading
    bg = image_u[:, 2:5]
    if palette is not None and cfg.palette_fraction > 0:
        pal_rows = (image_u[:, 1] / cfg.palette_fraction * palette.shape[0]).long().clamp_(max=palette.shape[0] - 1)
        bg = torch.where((image_u[:, 1] < cfg.palette_fraction)[:, None], palette[pal_rows], bg)
    tables.append(torch.cat([bg, torch.zeros(n, 3)], dim=1))
    label = label.view(n, -1).long()
    covered = label != _BARE
    block_of = torch.where(covered, label, 0) >> _BLOCK_BITS
    rows = torch.where(
        covered, slots.gather(1, block_of) + (label & (LEAF_BLOCK - 1)), table_rows + torch.arange(n)[:, None]
    )

    images = _render(rows, torch.cat(tables), size)
    radius = math.ceil(3 * cfg.blur_sigma_max)
    images = gaussian_blur(images, image_u[:, 0] * cfg.blur_sigma_max, min(radius, size - 1))
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
