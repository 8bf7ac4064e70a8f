"""The one transmission skeleton (genjscc.models.base.JSCCModel): a model that defines only its transforms gets the
image checks, the SNR check, power normalisation, the channel, BCR, loading and compiling; the SNR is checked once
per transmission, whichever network, channel or entry point."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from fractions import Fraction

import pytest
import torch
from torch import nn

import genjscc.channel.base as channel_base
from genjscc.channel import AWGN, BlockRayleigh
from genjscc.channel.impairments import Impaired, PhaseNoise
from genjscc.models.base import JSCCModel
from genjscc.models.deepjscc import DeepJSCC, DeepJSCCConfig
from genjscc.models.generative_jscc import GenerativeJSCC, GenerativeJSCCConfig
from genjscc.schemes import build_scheme
from genjscc.schemes.network import network_class
from genjscc.utils.weights import WeightsError, save_weights

from support import TINY_PRIOR_CONFIG


@dataclass(frozen=True)
class TinyConfig:
    channels: int = 4  # C = 4 on an (H/2) x (W/2) grid: k = H W / 2, rho = 4 / (6 * 2^2) = 1/6
    downsample: int = 2
    power: float = 2.0

    def to_dict(self) -> dict:
        return asdict(self)


class _Conv(nn.Module):
    """A convolution that takes (x, snr) as the skeleton calls its encoder, and ignores the SNR."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 2, stride=2)

    def forward(self, x, snr):
        return self.conv(x)


class Tiny(JSCCModel):
    """Only transforms: a stride-2 convolution out, a transposed one back (decode_latent adds the SNR so it is used)."""

    kind = "tiny"
    config_class = TinyConfig

    def __init__(self, config: TinyConfig):
        super().__init__(config)
        self.encoder = _Conv(3, config.channels)
        self.decoder = nn.ConvTranspose2d(config.channels, 3, 2, stride=2)

    def decode_latent(self, latent, snr):
        return torch.sigmoid(self.decoder(latent) + snr.view(-1, 1, 1, 1) / 100)


def test_a_model_of_transforms_only_gets_checks_power_and_bcr():
    torch.manual_seed(0)
    model = Tiny(TinyConfig())
    x = torch.rand(3, 3, 8, 12) * torch.tensor([0.1, 1.0, 5.0]).view(3, 1, 1, 1)
    symbols, shape = model.encode(x, 5.0)
    assert shape == (3, 4, 4, 6) and symbols.shape == (3, 48) and symbols.is_complex()  # k = C (H/f)(W/f) / 2
    assert torch.allclose(symbols.abs().square().mean(dim=1), torch.full((3,), 2.0), atol=1e-5)  # P per image
    assert model.bcr(8, 12) == Fraction(1, 6) == Fraction(symbols.shape[1], 3 * 8 * 12)
    y = model(x, AWGN(power=2.0), torch.tensor([-5.0, 0.0, 10.0]))
    assert y.shape == x.shape and 0 <= y.min() and y.max() <= 1
    with pytest.raises(ValueError, match=r"\[B, 3, H, W\]"):
        model(torch.rand(3, 8, 8), AWGN(), 0.0)
    odd, odd_shape = model.encode(torch.rand(1, 3, 8, 9), 0.0)  # padded to 8 x 10: a 4 x 5 latent grid
    assert odd_shape == (1, 4, 4, 5) and odd.shape == (1, 40)
    with pytest.raises(ValueError, match="out of range"):
        model(x, AWGN(), 1000.0)  # a linear SNR where dB is meant
    with pytest.raises(ValueError, match=r"tensor \[B=3\]"):
        model(x, AWGN(), torch.zeros(2))
    with pytest.raises(ValueError, match="finite"):
        model.decode(symbols, shape, float("nan"))


def test_forward_is_encode_channel_decode():
    torch.manual_seed(0)
    model = Tiny(TinyConfig()).eval()
    x, snr = torch.rand(2, 3, 8, 8), torch.tensor([0.0, 7.0])
    channel = AWGN(power=2.0)
    with torch.no_grad():
        expected = model.decode(channel(*model.encode(x, snr)[:1], snr, generator=torch.Generator().manual_seed(3)),
                                model.encode(x, snr)[1], snr)
        got = model(x, channel, snr, generator=torch.Generator().manual_seed(3))
        latent, checked = model.receive(x, channel, snr, generator=torch.Generator().manual_seed(3))
    assert torch.equal(got, expected) and torch.equal(model.decode_latent(latent, checked), expected)
    assert torch.equal(checked, snr)


def test_loading_and_compiling_come_from_the_skeleton(tmp_path, monkeypatch):
    import genjscc.utils.compile as compile_module

    torch.manual_seed(0)
    model = Tiny(TinyConfig(channels=6))
    path = save_weights(tmp_path / "tiny.safetensors", model.state_dict(), {"kind": "tiny", "config": model.config.to_dict()})
    again = Tiny.from_weights(path)
    assert again.config == TinyConfig(channels=6) and not again.training
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in again.state_dict().items())
    with pytest.raises(WeightsError, match="expected 'deepjscc'"):
        DeepJSCC.from_weights(path)
    compiled = []
    monkeypatch.setattr(compile_module, "compile_forward", lambda module, name: compiled.append((module, name)))
    assert model.compile_networks() is model
    assert compiled == [(model.encoder, "Tiny encoder"), (model.decoder, "Tiny decoder")]


def test_a_model_must_define_its_decoder():
    class EncoderOnly(JSCCModel):
        kind, config_class = "half", TinyConfig

    with pytest.raises(TypeError, match="decode_latent"):
        EncoderOnly(TinyConfig())


def _generative(decoder: str, inject: int) -> GenerativeJSCC:
    return GenerativeJSCC(GenerativeJSCCConfig(channels=8, generator=TINY_PRIOR_CONFIG, downsample=4, width=32, blocks=1,
                                               decoder=decoder, inject_resolution=inject))


NETWORK_CASES = {
    "deepjscc-paper": (lambda: DeepJSCC(DeepJSCCConfig(channels=8, filters=(4, 4, 4, 4))), 32),
    "deepjscc-paper-adaptive": (lambda: DeepJSCC(DeepJSCCConfig(channels=8, filters=(4, 4, 4, 4), snr_adaptive=True)), 32),
    "deepjscc-resgdn": (lambda: DeepJSCC(DeepJSCCConfig(channels=8, arch="resgdn", width=16, blocks=1)), 32),
    "generative-residual-8": (lambda: _generative("residual", 8), 16),
    "generative-residual-16": (lambda: _generative("residual", 16), 16),
    "generative-synthesis-4": (lambda: _generative("synthesis", 4), 16),
    "generative-synthesis-8": (lambda: _generative("synthesis", 8), 16),
}


@pytest.fixture
def snr_checks(monkeypatch):
    """Counts the checks of SNR values (every check of a number or host tensor goes through _check_snr_values)."""
    calls = []
    check = channel_base._check_snr_values
    monkeypatch.setattr(channel_base, "_check_snr_values", lambda snr: (calls.append(snr.clone()), check(snr))[1])
    return calls


@pytest.mark.parametrize("case", NETWORK_CASES)
def test_the_snr_is_checked_once_per_transmission(case, snr_checks):
    build, size = NETWORK_CASES[case]
    torch.manual_seed(0)
    model = build().eval()
    x = torch.rand(2, 3, size, size)
    for channel in (AWGN(), BlockRayleigh(csi="mmse"), Impaired(AWGN(), [PhaseNoise(2.0)])):
        snr_checks.clear()
        with torch.no_grad():
            model(x, channel, 3.0)
            assert len(snr_checks) == 1 and torch.equal(snr_checks[0], torch.tensor([3.0])), channel.describe()
            model(x, channel, torch.tensor([-2.0, 4.0]))
        assert len(snr_checks) == 2 and torch.equal(snr_checks[1], torch.tensor([-2.0, 4.0])), channel.describe()


def test_every_entry_point_takes_the_snr_the_same_way():
    """encode, decode, forward and receive each take a float or a tensor [B] and check it (GenerativeJSCC.encode
    took only a checked tensor and checked no image before the skeleton)."""
    for build, size in NETWORK_CASES.values():
        model = build().eval()
        x = torch.rand(2, 3, size, size)
        with torch.no_grad():
            for snr in (5.0, torch.tensor([5.0, 5.0])):
                symbols, shape = model.encode(x, snr)
                assert model.decode(symbols, shape, snr).shape == x.shape
            with pytest.raises(ValueError, match="out of range"):
                model.encode(x, 500.0)
            odd = torch.rand(2, 3, size + 4, size + 2)
            if model.kind == "generative":  # decodes its prior's size only
                with pytest.raises(ValueError, match="size"):
                    model.encode(odd, 0.0)
            else:  # any size: padded to the stride, cropped back
                assert model(odd, AWGN(), torch.tensor([5.0, 5.0])).shape == odd.shape


@pytest.mark.parametrize("kind, case", [("deepjscc", "deepjscc-paper-adaptive"), ("generative", "generative-synthesis-8")])
def test_one_network_scheme_for_every_kind(kind, case, tmp_path, monkeypatch, snr_checks):
    import genjscc.utils.compile as compile_module

    build, size = NETWORK_CASES[case]
    torch.manual_seed(0)
    model = build().eval()
    path = save_weights(tmp_path / f"{kind}.safetensors", model.state_dict(), {"kind": kind, "config": model.config.to_dict()})
    scheme = build_scheme(str(path))
    assert scheme.kind == kind and type(scheme.model) is network_class(kind) is type(model)
    assert scheme.weight_files == (path,) and scheme.bcr(size, size) == model.bcr(size, size)
    if kind == "generative":  # the model's own size rule: its prior's size only
        with pytest.raises(ValueError, match="size"):
            scheme.check_size(size + 4, size + 2)
    else:  # any size
        scheme.check_size(size + 4, size + 2)
    x = torch.rand(2, 3, size, size)
    out = scheme.transmit(x, AWGN(), 0.0, generator=torch.Generator().manual_seed(1)).images
    with torch.no_grad():
        assert torch.equal(out, model(x, AWGN(), 0.0, generator=torch.Generator().manual_seed(1)))
    assert len(snr_checks) == 2  # one per transmission: the scheme's and the direct call's
    compiled = []
    monkeypatch.setattr(compile_module, "compile_forward", lambda module, name: compiled.append(name))
    build_scheme(str(path), compile="true")  # --set compile=true
    assert compiled == [f"{type(model).__name__} {part}" for part in type(model).compiled_parts]
    with pytest.raises(ValueError, match="compile takes true or false"):
        build_scheme(str(path), compile="maybe")


def test_odd_sides_are_reflect_padded_then_cropped_back_and_the_bcr_counts_true_pixels():
    torch.manual_seed(0)
    model = Tiny(TinyConfig()).eval()
    x = torch.rand(2, 3, 7, 5)
    padded = model.pad(x)
    assert padded.shape == (2, 3, 8, 6)
    assert torch.equal(padded[..., :7, :5], x)
    assert torch.equal(padded[..., 7, :5], x[..., 5, :])  # reflected about the last row
    assert torch.equal(padded[..., :7, 5], x[..., :, 3])
    symbols, shape = model.encode(x, 0.0)
    k = 4 * 4 * 3 // 2  # C = 4 channels on the padded 4 x 3 grid
    assert shape == (2, 4, 4, 3) and symbols.shape == (2, k)
    assert model.bcr(7, 5) == Fraction(k, 3 * 7 * 5)  # channel uses of the padded latent over the true pixels
    with torch.no_grad():
        y = model(x, AWGN(), 5.0, generator=torch.Generator().manual_seed(1))
        full = model.decode(AWGN()(symbols, 5.0, generator=torch.Generator().manual_seed(1)), shape, 5.0)
    assert y.shape == x.shape and full.shape == (2, 3, 8, 6)
    assert torch.equal(y, full[..., :7, :5])  # forward = encode, channel, decode, crop
    assert model.decode(symbols, shape, 5.0, size=(7, 5)).shape[-2:] == (7, 5)


def test_an_image_smaller_than_the_stride_is_sent_too():
    model = Tiny(TinyConfig()).eval()
    x = torch.rand(1, 3, 1, 3)
    with torch.no_grad():
        y = model(x, AWGN(), 10.0, generator=torch.Generator().manual_seed(0))
    assert y.shape == (1, 3, 1, 3)
    assert model.bcr(1, 3) == Fraction(4 * 1 * 2 // 2, 3 * 1 * 3)
