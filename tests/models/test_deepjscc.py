from fractions import Fraction

import pytest
import torch

from genjscc.channel import AWGN, BlockRayleigh
from genjscc.models.deepjscc import DeepJSCC, DeepJSCCConfig
from genjscc.schemes import build_scheme
from genjscc.schemes.network import NetworkScheme
from genjscc.utils.weights import WeightsError, load_weights, save_weights


@pytest.mark.parametrize("snr_adaptive", [False, True])
def test_shapes_range_and_symbol_count(snr_adaptive):
    model = DeepJSCC(DeepJSCCConfig(channels=8, snr_adaptive=snr_adaptive))
    x = torch.rand(2, 3, 64, 64)
    symbols, shape = model.encode(x, 0.0)
    assert symbols.shape == (2, 8 * 8 * 8 // 2) and symbols.is_complex()
    assert torch.allclose(symbols.abs().square().mean(dim=1), torch.ones(2), atol=1e-5)
    y = model(x, AWGN(), 5.0)
    assert y.shape == x.shape and y.min() >= 0 and y.max() <= 1
    assert model.bcr(64, 64) == pytest.approx(1 / 48)


def test_fully_convolutional_any_size():
    model = DeepJSCC(DeepJSCCConfig(channels=4, downsample=4))
    y = model(torch.rand(1, 3, 40, 72), BlockRayleigh(), torch.tensor([3.0]))
    assert y.shape == (1, 3, 40, 72)
    odd = model(torch.rand(1, 3, 42, 71), AWGN(), 0.0)  # padded to 44 x 72, cropped back
    assert odd.shape == (1, 3, 42, 71) and model.bcr(42, 71) == Fraction(4 * 11 * 18, 2 * 3 * 42 * 71)
    with pytest.raises(ValueError, match=r"\[B, 3, H, W\]"):
        model(torch.rand(3, 64, 64), AWGN(), 0.0)


def test_snr_adaptive_output_depends_on_snr():
    torch.manual_seed(0)
    model = DeepJSCC(DeepJSCCConfig(channels=8, snr_adaptive=True))
    x = torch.rand(1, 3, 32, 32)
    s_lo, _ = model.encode(x, -5.0)
    s_hi, _ = model.encode(x, 10.0)
    assert not torch.allclose(s_lo, s_hi)
    plain = DeepJSCC(DeepJSCCConfig(channels=8))
    assert torch.allclose(plain.encode(x, -5.0)[0], plain.encode(x, 10.0)[0])


def test_config_validation():
    with pytest.raises(ValueError, match="downsample"):
        DeepJSCCConfig(channels=8, downsample=3)
    with pytest.raises(ValueError, match="4 hidden widths"):
        DeepJSCCConfig(channels=8, filters=(16, 32))


def test_weights_round_trip_and_kind_check(tmp_path):
    model = DeepJSCC(DeepJSCCConfig(channels=2, snr_adaptive=True))
    path = save_weights(tmp_path / "m.safetensors", model.state_dict(), {"kind": "deepjscc", "config": model.config.to_dict()}, card="# card\n")
    assert path.with_suffix(".json").exists() and path.with_suffix(".md").exists()
    scheme = build_scheme(str(path))
    assert isinstance(scheme, NetworkScheme)
    x = torch.rand(2, 3, 32, 32)
    g1, g2 = torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)
    with torch.no_grad():
        expected = model.eval()(x, AWGN(), 0.0, generator=g1)
    assert torch.allclose(scheme.transmit(x, AWGN(), 0.0, generator=g2).images, expected, atol=1e-6)
    with pytest.raises(WeightsError, match="expected 'stylegan2'"):
        load_weights(path, kind="stylegan2")
    (tmp_path / "junk.safetensors").write_bytes(b"garbage")
    with pytest.raises(WeightsError, match="not a readable safetensors"):
        load_weights(tmp_path / "junk.safetensors")
    with pytest.raises(FileNotFoundError, match="zoo name"):
        build_scheme(str(tmp_path / "missing.safetensors"))


@pytest.mark.parametrize("bcr, channels", [("1/12", 32), ("1/48", 8)])
def test_resgdn_backbone_shapes_bcr_and_power(bcr, channels, tmp_path):
    from fractions import Fraction

    from genjscc.channel import AWGN, bcr_to_channels

    assert bcr_to_channels(bcr, 64, 64, 8) == channels
    torch.manual_seed(0)
    model = DeepJSCC(DeepJSCCConfig(channels=channels, arch="resgdn", width=32, snr_adaptive=True)).eval()
    x = torch.rand(3, 3, 64, 64)
    symbols, shape = model.encode(x, 5.0)
    assert shape == (3, channels, 8, 8) and symbols.shape == (3, channels * 64 // 2)  # k = C (H/f)(W/f) / 2
    assert torch.allclose(symbols.abs().square().mean(dim=1), torch.ones(3), atol=1e-5)  # unit power per image
    assert model.bcr(64, 64) == Fraction(bcr) == Fraction(symbols.shape[1], 3 * 64 * 64)
    y = model(x, AWGN(), torch.tensor([-5.0, 0.0, 10.0]))
    assert y.shape == x.shape and 0 <= y.min() and y.max() <= 1
    path = save_weights(tmp_path / "r.safetensors", model.state_dict(), {"kind": "deepjscc", "config": model.config.to_dict()})
    again = DeepJSCC.from_weights(path)
    assert again.config.arch == "resgdn"
    g = torch.Generator().manual_seed(1)
    assert torch.equal(again(x, AWGN(), 0.0, generator=g), model(x, AWGN(), 0.0, generator=torch.Generator().manual_seed(1)))


def test_unknown_arch_is_an_error():
    with pytest.raises(ValueError, match="arch must be one of paper, resgdn"):
        DeepJSCCConfig(channels=8, arch="transformer")
