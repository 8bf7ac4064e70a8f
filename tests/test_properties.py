"""Property-based tests (hypothesis) of the channel and BCR maths, and a fuzz pass over the image loader."""

from __future__ import annotations

import io
import math
import random
from fractions import Fraction

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from genjscc.channel import (
    AWGN,
    BlockRayleigh,
    bcr_to_channels,
    channels_to_bcr,
    complex_to_real,
    noise_variance,
    parse_bcr,
    power_normalize,
    real_to_complex,
)
from genjscc.utils.images import DataError, load_image

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(channels=st.integers(1, 64), sides=st.tuples(st.integers(1, 12), st.integers(1, 12)),
       downsample=st.sampled_from([2, 4, 8, 16]))
def test_bcr_round_trip(channels, sides, downsample):
    height, width = sides[0] * downsample, sides[1] * downsample
    if channels * sides[0] * sides[1] % 2 or channels > 6 * downsample**2:  # odd reals cannot pair; rho > 1
        return
    rho = channels_to_bcr(channels, height, width, downsample)
    # rho = k / n with k = C (H/f)(W/f) / 2 complex uses and n = 3 H W real values
    assert rho == Fraction(channels * sides[0] * sides[1], 2) / (3 * height * width)
    assert rho == Fraction(channels, 6 * downsample**2)
    assert bcr_to_channels(rho, height, width, downsample) == channels
    assert bcr_to_channels(str(rho), height, width, downsample) == channels


@FAST
@given(num=st.integers(1, 50), den=st.integers(1, 5000))
def test_parse_bcr_fraction_and_decimal_agree(num, den):
    rho = Fraction(num, den)
    if rho > 1:
        with pytest.raises(ValueError):
            parse_bcr(f"{num}/{den}")
        return
    assert parse_bcr(f"{num}/{den}") == rho == parse_bcr(rho)
    assert parse_bcr(float(rho)) == rho  # a decimal is read as the nearest fraction with a small denominator


@FAST
@given(batch=st.integers(1, 4), pairs=st.integers(1, 64), power=st.floats(0.1, 10.0), seed=st.integers(0, 10**6))
def test_power_normalisation_is_exact_per_image(batch, pairs, power, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, 2 * pairs, 1, 1, generator=g) * 5
    z = power_normalize(real_to_complex(x), power)
    assert z.shape == (batch, pairs) and z.is_complex()
    assert torch.allclose(z.abs().square().mean(dim=1), torch.full((batch,), power), rtol=1e-5)
    assert torch.allclose(complex_to_real(real_to_complex(x), x.shape), x)  # pairing round-trips


@FAST
@given(snr=st.floats(-20, 40), seed=st.integers(0, 10**6))
def test_awgn_noise_power_follows_the_snr(snr, seed):
    k = 4096
    z = torch.zeros(8, k, dtype=torch.complex64)
    y = AWGN()(z, snr, generator=torch.Generator().manual_seed(seed))
    measured = y.abs().square().mean().item()
    expected = noise_variance(torch.tensor(snr)).item()  # P / 10^(SNR/10) per complex symbol
    # the mean of 32768 |w|^2 ~ Exp(sigma^2) has relative std 1/sqrt(32768) = 0.55 %: allow 6 sigma
    assert abs(measured / expected - 1) < 6 / math.sqrt(8 * k)
    assert abs(y.real.square().mean().item() / (expected / 2) - 1) < 6 * math.sqrt(2) / math.sqrt(8 * k)


@FAST
@given(snr=st.floats(0, 30), seed=st.integers(0, 10**6))
def test_zero_forcing_with_known_fading_is_unbiased(snr, seed):
    g = torch.Generator().manual_seed(seed)
    z = power_normalize(torch.randn(4, 512, dtype=torch.complex64, generator=g))
    h = torch.randn(4, 1, dtype=torch.complex64, generator=g)
    y = BlockRayleigh(csi="zf")(z, snr, h=h, generator=g)
    # equalised noise w / h has variance sigma^2 / |h|^2 per symbol
    residual = (y - z).abs().square().mean(dim=1)
    expected = noise_variance(torch.tensor(snr)) / h.abs().square().squeeze(1)
    assert torch.all((residual / expected - 1).abs() < 0.5)


# ----------------------------------------------------------------------------- image loader fuzz

FORMATS = ["PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF", "PPM", "JPEG2000"]


def _encoded(fmt: str) -> bytes:
    buffer = io.BytesIO()
    image = Image.effect_mandelbrot((24, 20), (-2, -1.2, 1, 1.2), 40).convert("RGB")
    image.save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.mark.parametrize("fmt", FORMATS)
def test_loader_fuzz_truncated_and_mutated(tmp_path, fmt):
    """Truncated or bit-flipped files either load as a valid [3, H, W] image in [0, 1] or raise DataError."""
    data = _encoded(fmt)
    rng = random.Random(fmt)
    cases = [data[:n] for n in (0, 1, 8, len(data) // 3, len(data) // 2, len(data) - 1)]
    for _ in range(30):
        mutated = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            mutated[rng.randrange(len(mutated))] = rng.randrange(256)
        cases.append(bytes(mutated))
    outcomes = {"loaded": 0, "refused": 0}
    for i, blob in enumerate(cases):
        path = tmp_path / f"case{i}.{fmt.lower()}"
        path.write_bytes(blob)
        try:
            x = load_image(path)
        except DataError as exc:
            assert str(path) in str(exc)
            outcomes["refused"] += 1
            continue
        assert x.dim() == 3 and x.shape[0] == 3 and torch.isfinite(x).all() and 0 <= x.min() and x.max() <= 1
        outcomes["loaded"] += 1
    assert outcomes["refused"] >= 3  # the empty and 1- and 8-byte files at least
