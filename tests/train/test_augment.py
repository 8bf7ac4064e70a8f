"""DiffAugment's translation fills the uncovered border by reflection: no grey frames."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from genjscc.train.augment import DiffAugment, diff_augment


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_translation_of_a_white_image_stays_white(dtype):
    x = torch.ones(64, 3, 16, 16, dtype=dtype)  # white in [-1, 1]; zero filling would leave grey (0) frames
    y = DiffAugment("translation")(x)
    assert y.shape == x.shape and y.dtype == dtype
    assert torch.equal(y, x)


def test_translation_adds_no_constant_border_rows_or_columns():
    x = torch.rand(128, 3, 32, 32) * 2 - 1  # no row or column of the input is constant
    y = diff_augment(x, "translation")
    for edge in (y[:, :, 0, :], y[:, :, -1, :], y[:, :, :, 0], y[:, :, :, -1]):
        spread = edge.amax(dim=-1) - edge.amin(dim=-1)  # [N, C]
        assert (spread > 0.1).all()
    assert not (y == 0).any()
    # some images did move (a shift of 0 in both directions has probability 1/81 per image)
    assert (y != x).flatten(1).any(dim=1).float().mean() > 0.9


def test_translation_is_a_shift_of_the_reflect_padded_image():
    x = torch.rand(16, 3, 16, 12)
    torch.manual_seed(3)
    y = diff_augment(x, "translation")
    torch.manual_seed(3)  # the same draws: shifts in x, then in y
    sx, sy = int(12 * 0.125 + 0.5), int(16 * 0.125 + 0.5)
    dx = torch.randint(-sx, sx + 1, (16, 1, 1))
    dy = torch.randint(-sy, sy + 1, (16, 1, 1))
    padded = F.pad(x, [sx, sx, sy, sy], mode="reflect")
    for i in range(16):
        oy, ox = sy + int(dy[i]), sx + int(dx[i])
        assert torch.equal(y[i], padded[i, :, oy:oy + 16, ox:ox + 12])


def test_translation_is_differentiable():
    x = torch.rand(8, 3, 16, 16, requires_grad=True)
    DiffAugment("translation")(x * 2 - 1).sum().backward()
    # every output pixel reads exactly one input pixel: the gradients add up to 2 per output pixel
    assert x.grad is not None
    assert x.grad.sum().item() == pytest.approx(2 * x.numel())
    x.grad = None
    DiffAugment()(x * 2 - 1).square().mean().backward()  # the full default policy
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
