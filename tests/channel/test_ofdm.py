"""OFDM over 3GPP multipath (genjscc.channel.ofdm): statistics of the link, gradients, seeds, per-image SNRs."""

import math
import subprocess
import sys

import pytest
import torch

from genjscc.channel import power_normalize
from genjscc.channel.registry import build_channel
from genjscc.models.deepjscc import DeepJSCC, DeepJSCCConfig
from genjscc.channel.ofdm import OFDMMultipath, papr_db

CPU = torch.device("cpu")


def symbols(batch, k, seed=0):
    g = torch.Generator().manual_seed(seed)
    return power_normalize(torch.randn(batch, k, dtype=torch.complex64, generator=g))


def test_mean_channel_gain_is_one_per_resource_element():
    h = OFDMMultipath(model="C").draw_response(400, CPU, generator=torch.Generator().manual_seed(0))
    gain = h.abs().square().mean(0)  # [symbols, fft]: E|H|^2 per RE over 400 draws
    assert gain.shape == (14, 72)
    assert abs(gain.mean().item() - 1) < 0.02
    assert (gain - 1).abs().max().item() < 0.35  # every RE, not only on average (400 draws of a ~exp(1) gain)


def test_noise_variance_per_data_re_matches_the_snr():
    channel = OFDMMultipath(estimator="perfect", csi="none")
    z = symbols(4, 3000)
    slots = channel.slots(3000)
    ones = torch.ones(4, slots, 14, 72, dtype=torch.complex64)
    y = channel(z, torch.tensor([0.0, 10.0, 20.0, -5.0]), h=ones, generator=torch.Generator().manual_seed(1))
    measured = (y - z).abs().square().mean(1)
    expected = torch.tensor([1.0, 0.1, 0.01, 10 ** 0.5])
    assert torch.allclose(measured / expected, torch.ones(4), atol=0.08), measured / expected


def test_ls_error_at_the_pilots_matches_its_theory():
    """LS at a pilot: H^ - H = W / p, so E|H^ - H|^2 = sigma^2 / |p|^2 (= sigma^2: unit-power pilots)."""
    channel = OFDMMultipath(estimator="ls")
    g = torch.Generator().manual_seed(2)
    z = symbols(16, 1728)
    x = channel.transmit_grid(z)
    h = channel.draw_response(16 * 2, CPU, generator=g).reshape(x.shape)
    sigma2 = 0.1
    noise = torch.view_as_complex(torch.randn(*x.shape, 2, generator=g) * math.sqrt(0.5))
    y = h * x + math.sqrt(sigma2) * noise
    h_hat, err = channel.estimate(y, torch.tensor(sigma2))
    pilots = list(channel.grid.pilot_symbols)
    measured = (h_hat - h)[:, :, pilots].abs().square().mean().item()
    assert abs(measured / sigma2 - 1) < 0.06, measured
    assert torch.allclose(err[:, :, pilots], torch.full_like(err[:, :, pilots], sigma2), rtol=1e-4)


@pytest.mark.parametrize("estimator", ["perfect", "ls"])
def test_equalised_output_equals_the_input_at_60_db(estimator):
    z = symbols(4, 2000)
    y = OFDMMultipath(estimator=estimator)(z, 60.0, generator=torch.Generator().manual_seed(3))
    assert y.shape == z.shape and y.dtype == torch.complex64
    # MMSE over deep fades still leaves ~1e-5; a wrong RE order or a missing equaliser gives ~1
    assert (y - z).abs().square().mean().item() < 1e-3


def test_equalised_error_shrinks_with_snr_and_ls_is_worse_than_perfect_csi():
    z = symbols(8, 1728)
    err = {}
    for estimator in ("perfect", "ls"):
        for snr in (0.0, 20.0):
            y = OFDMMultipath(estimator=estimator)(z, snr, generator=torch.Generator().manual_seed(4))
            err[estimator, snr] = (y - z).abs().square().mean().item()
    assert err["perfect", 20.0] < err["perfect", 0.0] / 10
    assert err["perfect", 0.0] < err["ls", 0.0]


def test_per_image_snrs():
    z = symbols(2, 1728)
    channel = OFDMMultipath(estimator="perfect", csi="none")
    ones = torch.ones(2, 2, 14, 72, dtype=torch.complex64)
    y = channel(z, torch.tensor([0.0, 30.0]), h=ones, generator=torch.Generator().manual_seed(5))
    var = (y - z).abs().square().mean(1)
    assert 0.9 < var[0].item() < 1.1 and 0.0009 < var[1].item() < 0.0011


def test_deterministic_with_a_seed():
    z = symbols(2, 900)
    channel = build_channel("ofdm-tdl-a:speed=30")
    a = channel(z, 5.0, generator=torch.Generator().manual_seed(7))
    b = channel(z, 5.0, generator=torch.Generator().manual_seed(7))
    c = channel(z, 5.0, generator=torch.Generator().manual_seed(8))
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)


def test_two_channels_built_apart_agree_with_the_same_seed():
    """The pilots (drawn by Sionna) are fixed, so LS estimates repeat across channel objects and processes."""
    z = symbols(2, 900)
    a = build_channel("ofdm-tdl-c")(z, 0.0, generator=torch.Generator().manual_seed(11))
    b = build_channel("ofdm-tdl-c")(z, 0.0, generator=torch.Generator().manual_seed(11))
    assert torch.equal(a, b)


def test_gradients_reach_the_encoder():
    torch.manual_seed(0)
    model = DeepJSCC(DeepJSCCConfig(channels=8, snr_adaptive=True))
    x = torch.rand(2, 3, 32, 32)
    recon = model(x, build_channel("ofdm-tdl-c"), torch.tensor([0.0, 10.0]))
    recon.square().mean().backward()
    grads = [p.grad for p in model.encoder.parameters() if p.grad is not None]
    assert grads and sum(g.abs().sum().item() for g in grads) > 0


def test_cdl_channel_runs_and_keeps_unit_gain():
    channel = build_channel("ofdm-cdl-b")
    h = channel.draw_response(200, CPU, generator=torch.Generator().manual_seed(9))
    assert abs(h.abs().square().mean().item() - 1) < 0.05


def test_overhead_reports_pilots_padding_and_cyclic_prefix():
    info = OFDMMultipath().overhead(k=1024, n=3 * 64 * 64)
    assert info["bcr"] == pytest.approx(1 / 12)
    # 2 slots x 14 symbols x (72 + 6) samples over 12288 values
    assert info["effective_bcr"] == pytest.approx(2 * 14 * 78 / 12288)
    assert info["pilot_fraction"] == pytest.approx(2 * 2 * 72 / (2 * 14 * 78))
    assert info["cyclic_prefix_fraction"] == pytest.approx(6 / 78)
    assert info["padding_fraction"] == pytest.approx((1728 - 1024) / (2 * 14 * 78))


def test_time_domain_clipping_lowers_the_papr():
    z = symbols(8, 1728)
    plain = OFDMMultipath().papr_db(z)
    clipped = OFDMMultipath(clip_db=3.0).papr_db(z)
    assert (plain > 6).all()  # an OFDM waveform of Gaussian-like symbols peaks high
    assert (clipped < plain - 2).all()
    assert (clipped < 4.0).all()  # peak <= 3 dB above the pre-clip RMS; clipping lowers the RMS by < 1 dB


def test_papr_of_a_constant_envelope_is_zero():
    assert torch.allclose(papr_db(torch.polar(torch.ones(3, 50), torch.rand(3, 50))), torch.zeros(3), atol=1e-5)


def test_import_and_awgn_transmit_do_not_import_sionna():
    code = ("import sys, torch, genjscc; from genjscc.channel.registry import build_channel; "
            "build_channel('awgn')(torch.ones(1, 4, dtype=torch.complex64), 0.0); "
            "build_channel('ofdm-tdl-c'); assert 'sionna' not in sys.modules; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "ok"


def test_generative_jscc_trains_through_ofdm():
    """The generative model takes the same channel: gradients reach its encoder through OFDM + LS."""
    from support import TINY_PRIOR_CONFIG
    from genjscc.models.generative_jscc import GenerativeJSCC, GenerativeJSCCConfig

    torch.manual_seed(0)
    model = GenerativeJSCC(GenerativeJSCCConfig(channels=8, generator=TINY_PRIOR_CONFIG, downsample=4, width=32,
                                                blocks=1, inject_resolution=16))
    x = torch.rand(2, 3, 16, 16)
    y = model(x, build_channel("ofdm-tdl-c"), torch.tensor([0.0, 10.0]))
    (y - x).square().mean().backward()
    assert y.shape == x.shape
    assert sum(p.grad.abs().sum().item() for p in model.encoder.parameters() if p.grad is not None) > 0
