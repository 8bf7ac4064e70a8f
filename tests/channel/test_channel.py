"""Channel statistics, power constraint and BCR arithmetic.

Tolerances: with M i.i.d. samples the relative standard error of a mean of |w|^2 (an
exponential variable, whose std equals its mean) is 1/sqrt(M); M = 2^18 gives 0.2 %, so
the 2 % bound of the issue is ~10 standard errors and cannot fail by chance.
"""

import math
from fractions import Fraction

import pytest
import torch

from genjscc.channel import (
    AWGN,
    BlockRayleigh,
    FastRayleigh,
    bcr_to_channels,
    channels_to_bcr,
    complex_to_real,
    noise_variance,
    parse_bcr,
    power_normalize,
    real_to_complex,
    sample_snr_db,
    snr_tensor,
)
from genjscc.channel.registry import build_channel


def test_power_normalize_gives_exact_power_per_image():
    z = torch.randn(16, 300, dtype=torch.complex64) * torch.linspace(0.1, 10, 16).unsqueeze(1)
    for power in (1.0, 2.5):
        zn = power_normalize(z, power)
        per_image = zn.abs().square().mean(dim=1)
        assert torch.allclose(per_image, torch.full((16,), power), atol=1e-5)


def test_power_normalize_rejects_real_input():
    with pytest.raises(ValueError, match="complex symbols"):
        power_normalize(torch.randn(4, 10))


def test_real_complex_round_trip_and_pairing():
    x = torch.arange(2 * 4 * 2 * 2, dtype=torch.float32).reshape(2, 4, 2, 2)
    z = real_to_complex(x)
    assert z.shape == (2, 8)
    assert z[0, 0] == complex(0, 1) and z[0, 1] == complex(2, 3)
    assert torch.equal(complex_to_real(z, x.shape), x)
    with pytest.raises(ValueError, match="even number"):
        real_to_complex(torch.randn(2, 3, 1, 1))


@pytest.mark.parametrize("snr_db", [-5.0, 0.0, 10.0])
def test_awgn_noise_power_per_complex_symbol(snr_db):
    g = torch.Generator().manual_seed(0)
    z = power_normalize(torch.randn(4, 2**16, dtype=torch.complex64, generator=g))
    y = AWGN()(z, snr_db, generator=g)
    noise = y - z
    expected = 10 ** (-snr_db / 10)
    measured = noise.abs().square().mean().item()
    assert abs(measured / expected - 1) < 0.02
    # half of the variance in each real dimension (complex, circular noise)
    assert abs(noise.real.square().mean().item() / (expected / 2) - 1) < 0.03
    assert abs(noise.imag.square().mean().item() / (expected / 2) - 1) < 0.03
    assert abs((noise.real * noise.imag).mean().item()) < 0.02 * expected


def test_per_image_snr_tensor():
    g = torch.Generator().manual_seed(1)
    z = power_normalize(torch.randn(2, 2**17, dtype=torch.complex64, generator=g))
    y = AWGN()(z, torch.tensor([0.0, 20.0]), generator=g)
    p = (y - z).abs().square().mean(dim=1)
    assert abs(p[0].item() - 1.0) < 0.02 and abs(p[1].item() / 0.01 - 1) < 0.02


def test_snr_validation_messages():
    with pytest.raises(ValueError, match="dB"):
        snr_tensor(1000.0, 2)
    with pytest.raises(ValueError, match="finite"):
        snr_tensor(float("nan"), 2)
    with pytest.raises(ValueError, match=r"\[B=3\]"):
        snr_tensor(torch.zeros(2), 3)


def test_sample_snr_range():
    s = sample_snr_db(10_000, -5, 10, generator=torch.Generator().manual_seed(0))
    assert s.min() >= -5 and s.max() <= 10 and abs(s.mean().item() - 2.5) < 0.2
    with pytest.raises(ValueError):
        sample_snr_db(3, 5, -5)


def test_block_rayleigh_fading_statistics():
    g = torch.Generator().manual_seed(2)
    ch = BlockRayleigh(csi="none")
    z = torch.ones(2**17, 4, dtype=torch.complex64)
    h = ch.draw_fading(z, generator=g)
    assert h.shape == (2**17, 1)
    assert abs(h.abs().square().mean().item() - 1) < 0.02
    # independent across images: correlation of consecutive draws ~ 0 (std 1/sqrt(M) = 0.003)
    corr = (h[1:] * h[:-1].conj()).mean().abs().item()
    assert corr < 0.02
    # constant within an image: y = h z with z = 1 and no noise at very high SNR
    y = ch(z[:8], 100.0, h=h[:8])
    assert torch.allclose(y, y[:, :1].expand_as(y), atol=1e-4)


def test_block_rayleigh_draw_constant_within_image_without_given_h():
    g = torch.Generator().manual_seed(3)
    z = torch.ones(32, 50, dtype=torch.complex64)
    y = BlockRayleigh(csi="none")(z, 100.0, generator=g)
    spread = (y - y[:, :1]).abs().max().item()
    assert spread < 1e-3
    assert (y[:, 0] - y[0, 0]).abs().max() > 0.1  # differs across images


def test_fast_rayleigh_varies_per_symbol():
    g = torch.Generator().manual_seed(4)
    z = torch.ones(4, 2**15, dtype=torch.complex64)
    y = FastRayleigh(csi="none")(z, 100.0, generator=g)
    assert abs(y.abs().square().mean().item() - 1) < 0.03
    assert (y[:, 1:] - y[:, :-1]).abs().mean() > 0.5


@pytest.mark.parametrize("csi", ["zf", "mmse"])
def test_equalisation_recovers_symbols_at_high_snr(csi):
    g = torch.Generator().manual_seed(5)
    z = power_normalize(torch.randn(64, 256, dtype=torch.complex64, generator=g))
    y = BlockRayleigh(csi=csi)(z, 60.0, generator=g)
    # a few deep fades limit ZF; compare the median error
    err = (y - z).abs().square().mean(dim=1).median().item()
    assert err < 1e-3


def test_mmse_is_better_than_zf_at_low_snr():
    g1, g2 = torch.Generator().manual_seed(6), torch.Generator().manual_seed(6)
    z = power_normalize(torch.randn(2000, 64, dtype=torch.complex64, generator=torch.Generator().manual_seed(7)))
    zf = BlockRayleigh(csi="zf")(z, 0.0, generator=g1)
    mmse = BlockRayleigh(csi="mmse")(z, 0.0, generator=g2)
    assert (mmse - z).abs().square().mean() < (zf - z).abs().square().mean()


def test_channels_are_differentiable():
    x = torch.randn(3, 40, requires_grad=True)
    for ch in (AWGN(), BlockRayleigh(), FastRayleigh(csi="zf")):
        y = ch(power_normalize(real_to_complex(x)), 5.0)
        torch.view_as_real(y).sum().backward()
        assert x.grad is not None and torch.isfinite(x.grad).all()
        x.grad = None


def test_build_channel_names():
    assert isinstance(build_channel("awgn"), AWGN)
    assert build_channel("rayleigh", csi="zf").csi == "zf"
    with pytest.raises(ValueError, match="awgn"):
        build_channel("ricean")


def test_noise_variance_formula():
    assert math.isclose(noise_variance(torch.tensor(10.0)).item(), 0.1, rel_tol=1e-6)


# ----------------------------------------------------------------------------- BCR


@pytest.mark.parametrize(
    "bcr, channels", [("1/6", 64), ("1/12", 32), ("1/48", 8), ("1/96", 4), ("1/192", 2), ("1/384", 1)]
)
def test_bcr_to_channels_at_64(bcr, channels):
    assert bcr_to_channels(bcr, 64, 64, 8) == channels
    assert channels_to_bcr(channels, 64, 64, 8) == Fraction(bcr)


def test_bcr_matches_symbol_count():
    # k / n computed by counting: C (H/f)(W/f)/2 complex uses over 3 H W values
    c, h, w, f = 8, 64, 96, 8
    k = c * (h // f) * (w // f) // 2
    assert channels_to_bcr(c, h, w, f) == Fraction(k, 3 * h * w)


def test_unreachable_bcr_names_nearest():
    with pytest.raises(ValueError, match="nearest achievable BCRs: .*1/48"):
        bcr_to_channels("1/50", 64, 64, 8)
    with pytest.raises(ValueError, match="divisible"):
        bcr_to_channels("1/48", 60, 64, 8)


def test_parse_bcr():
    assert parse_bcr("1/48") == Fraction(1, 48)
    assert parse_bcr(0.25) == Fraction(1, 4)
    for bad in ("abc", "0", "2", "1/0"):
        with pytest.raises(ValueError):
            parse_bcr(bad)
