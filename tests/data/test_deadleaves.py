import pytest
import torch

from genjscc.data.deadleaves import DeadLeaves, DeadLeavesConfig, dead_leaves


def spectrum_slope(images: torch.Tensor) -> float:
    """Least-squares slope of log(radially averaged power) vs log(radius), radii 2 .. S/2 - 3."""
    g = images.mean(dim=1)
    g = g - g.mean(dim=(1, 2), keepdim=True)
    power = torch.fft.fft2(g).abs().square().mean(dim=0)
    size = g.shape[-1]
    f = torch.fft.fftfreq(size) * size
    radius = (f[:, None] ** 2 + f[None, :] ** 2).sqrt().round().long()
    ks = torch.arange(2, size // 2 - 2)
    profile = torch.stack([power[radius == k].mean() for k in ks])
    design = torch.stack([ks.double().log(), torch.ones(len(ks), dtype=torch.float64)], dim=1)
    return torch.linalg.lstsq(design, profile.double().log()[:, None]).solution[0, 0].item()


@pytest.fixture(scope="module")
def batch():
    return dead_leaves(range(24), 64, seed=3)


def test_shape_dtype_range(batch):
    assert batch.shape == (24, 3, 64, 64) and batch.dtype == torch.float32
    assert batch.min() >= 0 and batch.max() <= 1


def test_deterministic_per_index_and_independent_of_batching(batch):
    again = dead_leaves(range(24), 64, seed=3)
    assert torch.equal(again, batch)
    picked = dead_leaves([17, 2, 9], 64, seed=3)  # other batch size, other order
    assert torch.equal(picked, batch[[17, 2, 9]])
    data = DeadLeaves(64, length=24, seed=3)
    assert torch.equal(data[5], batch[5])
    assert torch.equal(torch.stack(data.__getitems__([0, 23])), batch[[0, 23]])


def test_different_seeds_and_indices_differ(batch):
    other = dead_leaves([0, 1], 64, seed=4)
    assert (other - batch[:2]).abs().mean() > 0.1
    assert (batch[0] - batch[1]).abs().mean() > 0.1


def test_image_statistics(batch):
    assert 0.2 < batch.mean() < 0.8
    assert batch.std(dim=(1, 2, 3)).min() > 0.05
    # dead leaves with p(r) ∝ r^-3 have a ~1/f^2 power spectrum; white noise would give ~0
    assert -3.5 < spectrum_slope(batch) < -1.0
    assert abs(spectrum_slope(torch.rand(24, 3, 64, 64))) < 0.5


def test_palette_colours_are_used():
    palette = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    cfg = DeadLeavesConfig(palette_fraction=1.0, shading=0.0, blur_sigma_max=0.0, noise_sigma=0.0)
    x = dead_leaves(range(4), 32, seed=0, palette=palette, config=cfg)
    pixels = x.permute(0, 2, 3, 1).reshape(-1, 3)
    is_palette = (pixels[:, None, :] == palette[None]).all(dim=2).any(dim=1)
    assert is_palette.all()
    assert (pixels[:, 0] == 1).any() and (pixels[:, 1] == 1).any()  # both colours appear
    uniform = dead_leaves(range(4), 32, seed=0, config=cfg)
    assert not (uniform.permute(0, 2, 3, 1).reshape(-1, 3)[:, None, :] == palette[None]).all(dim=2).any(dim=1).all()


def test_leaf_cap_shows_background():
    cfg = DeadLeavesConfig(max_leaves=3, shading=0.0, blur_sigma_max=0.0, noise_sigma=0.0, radius_max=4.0)
    x = dead_leaves([0], 32, seed=0, config=cfg)[0]
    colours = x.reshape(3, -1).T.unique(dim=0)
    assert 2 <= len(colours) <= 4  # at most three small leaves over one background colour
    full = dead_leaves([0], 32, seed=0, config=DeadLeavesConfig(shading=0.0, blur_sigma_max=0.0, noise_sigma=0.0))
    assert len(full[0].reshape(3, -1).T.unique(dim=0)) > 20


def test_validation():
    with pytest.raises(ValueError, match="palette"):
        dead_leaves([0], 16, palette=torch.rand(5, 4))
    with pytest.raises(ValueError, match="rect_fraction"):
        DeadLeavesConfig(rect_fraction=1.5)
    with pytest.raises(IndexError):
        DeadLeaves(16, length=3)[3]


def test_box_and_bare_pixel_rasterisers_agree(monkeypatch):
    import genjscc.data.deadleaves as procedural

    monkeypatch.setattr(procedural, "_PIXEL_COST", 0)  # every block by bare-pixel tests
    by_pixel = dead_leaves(range(4), 32, seed=1)
    monkeypatch.setattr(procedural, "_PIXEL_COST", 10**9)  # every block by bounding boxes
    by_box = dead_leaves(range(4), 32, seed=1)
    assert torch.equal(by_pixel, by_box)
    assert by_box.std(dim=(1, 2, 3)).min() > 0.05


def test_other_sizes_shapes_and_thread_count():
    cfg = DeadLeavesConfig(rect_fraction=0.2, ellipse_fraction=1.0, radius_min=2.0, radius_max=20.0)
    x = dead_leaves(range(3), 48, seed=1, config=cfg)
    assert x.shape == (3, 3, 48, 48) and x.min() >= 0 and x.max() <= 1
    assert not torch.equal(x, dead_leaves(range(3), 48, seed=1))  # the config matters
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = dead_leaves(range(3), 48, seed=1, config=cfg)
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(one, x)
