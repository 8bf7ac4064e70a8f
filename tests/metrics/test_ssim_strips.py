"""SSIM and MS-SSIM of large images in row strips equal torchmetrics' values on the whole image."""

from __future__ import annotations

import pytest
import torch
from torchmetrics.functional.image import (
    multiscale_structural_similarity_index_measure,
    structural_similarity_index_measure,
)

import genjscc.metrics.ssim_strips as strips
from genjscc.metrics import ms_ssim, ms_ssim_setting, ssim


@pytest.fixture
def pair():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 181, 203, generator=g)
    return x, (x + 0.1 * torch.randn(x.shape, generator=g)).clamp(0, 1)


def test_strips_give_torchmetrics_values(pair, monkeypatch):
    x, y = pair
    monkeypatch.setattr(strips, "STRIP_PIXELS", 203 * 17)  # 11 strips of 17 rows, the last one shorter
    expected = structural_similarity_index_measure(y, x, data_range=1.0, reduction="none")
    assert torch.allclose(strips.ssim_in_strips(y, x), expected, atol=2e-6)
    kernel, betas = ms_ssim_setting(181)
    expected = multiscale_structural_similarity_index_measure(y, x, data_range=1.0, kernel_size=kernel, betas=betas,
                                                              reduction="none", normalize="relu")
    assert torch.allclose(strips.ms_ssim_in_strips(y, x, betas), expected, atol=2e-6)


def test_large_images_are_measured_in_strips(pair, monkeypatch):
    import genjscc.metrics.quality as quality

    x, y = pair
    whole = ssim(y, x), ms_ssim(y, x)
    calls = []
    monkeypatch.setattr(quality, "LARGE_IMAGE_PIXELS", 181 * 203 - 1)
    monkeypatch.setattr(quality, "ssim_in_strips", lambda *a: calls.append("ssim") or strips.ssim_in_strips(*a))
    monkeypatch.setattr(quality, "ms_ssim_in_strips", lambda *a: calls.append("ms") or strips.ms_ssim_in_strips(*a))
    assert torch.allclose(ssim(y, x), whole[0], atol=2e-6) and torch.allclose(ms_ssim(y, x), whole[1], atol=2e-6)
    assert calls == ["ssim", "ms"]
