"""The shared Gaussian blur against a direct 2-D convolution with reflect padding."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from genjscc.utils.filters import gaussian_blur


def test_blur_matches_a_reflect_padded_convolution_on_non_square_images():
    x = torch.rand(2, 3, 12, 20, dtype=torch.float64)
    sigma = torch.tensor([0.8, 2.0], dtype=torch.float64)
    radius = 4
    out = gaussian_blur(x.clone(), sigma, radius)
    taps = torch.arange(-radius, radius + 1, dtype=torch.float64)
    for i in range(2):
        w = torch.exp(-0.5 * (taps / sigma[i]) ** 2)
        w = w / w.sum()
        kernel = (w[:, None] * w[None, :]).expand(3, 1, -1, -1)
        padded = F.pad(x[i : i + 1], [radius] * 4, mode="reflect")
        assert torch.allclose(out[i], F.conv2d(padded, kernel, groups=3)[0], atol=1e-12)
    constant = torch.full((1, 3, 12, 20), 0.3)
    assert torch.allclose(gaussian_blur(constant, torch.tensor([3.0]), 5), constant)  # weights sum to 1


def test_a_radius_as_large_as_the_image_is_refused():
    with pytest.raises(ValueError, match="blur radius 8 px needs images larger than 8 px"):
        gaussian_blur(torch.rand(1, 3, 8, 16), torch.tensor([3.0]), 8)
