"""Rician fading, phase noise, clipping and the channel-spec registry (genjscc.channel.impairments, build_channel)."""

import math

import pytest
import torch

from genjscc.channel import AWGN, power_normalize
from genjscc.channel.registry import CHANNELS, STAGES, build_channel
from genjscc.channel.impairments import Clip, Impaired, PhaseNoise, Rician
from genjscc.channel.ofdm import OFDMMultipath, papr_db


def symbols(batch, k, seed=0):
    g = torch.Generator().manual_seed(seed)
    return power_normalize(torch.randn(batch, k, dtype=torch.complex64, generator=g))


def test_rician_gain_is_one_and_k_sets_the_los_share():
    z = torch.ones(20000, 1, dtype=torch.complex64)
    g = torch.Generator().manual_seed(0)
    weak = Rician(k_db=-30.0).draw_fading(z, generator=g)
    strong = Rician(k_db=20.0).draw_fading(z, generator=g)
    assert abs(weak.abs().square().mean().item() - 1) < 0.05
    assert abs(strong.abs().square().mean().item() - 1) < 0.02
    # K = 100: |h| stays near 1 (variance of |h|^2 ~ 4K/(K+1)^2 ~ 0.04); K ~ 0: Rayleigh, var(|h|^2) = 1
    assert strong.abs().square().var().item() < 0.06
    assert 0.9 < weak.abs().square().var().item() < 1.1


def test_rician_equalised_at_high_snr_returns_the_input():
    z = symbols(4, 64)
    y = build_channel("rician:k_db=3")(z, 60.0, generator=torch.Generator().manual_seed(1))
    assert (y - z).abs().square().mean().item() < 1e-4


def test_phase_noise_keeps_the_magnitude_and_walks_the_phase():
    y = torch.ones(200, 400, dtype=torch.complex64)
    out = PhaseNoise(std_deg=2.0)(y, generator=torch.Generator().manual_seed(2))
    assert torch.allclose(out.abs(), torch.ones_like(out.abs()), atol=1e-5)
    steps = torch.angle(out[:, 1:] * out[:, :-1].conj())
    assert abs(math.degrees(steps.std().item()) - 2.0) < 0.05
    # a random walk: the phase spread at the last symbol is ~ sqrt(400) x 2 deg = 40 deg
    assert 30 < math.degrees(torch.angle(out[:, -1]).std().item()) < 50


def test_clip_caps_the_peak_and_the_papr():
    z = symbols(6, 4096)
    clipped = Clip(level_db=2.0)(z)
    limit = 10 ** (2.0 / 20)  # unit-power input: RMS 1
    assert clipped.abs().max().item() <= limit + 1e-5
    assert (papr_db(clipped) < papr_db(z) - 3).all()
    assert (papr_db(clipped) < 3.5).all()  # 2 dB over the old RMS, plus the RMS the clipping removed (< 1.5 dB)


def test_stages_compose_in_a_spec_tx_before_rx_after():
    channel = build_channel("clip:level_db=0+phase-noise:std_deg=1+awgn")
    assert isinstance(channel, Impaired)
    assert [type(s) for s in channel.stages] == [Clip, PhaseNoise] and isinstance(channel.channel, AWGN)
    assert channel.describe() == "clip(0dB)+phase-noise(1deg)+awgn"
    z = symbols(2, 1000)
    y = channel(z, 60.0, generator=torch.Generator().manual_seed(3))
    # clipped at the RMS: every received magnitude is <= 1 (+ 60 dB noise), phase noise keeps it
    assert y.abs().max().item() < 1.01


def test_registry_specs_and_errors():
    assert set(STAGES) == {"clip", "phase-noise"}
    assert {"ofdm-tdl-a", "ofdm-tdl-e", "ofdm-cdl-c", "rician", "awgn"} <= set(CHANNELS)
    ofdm = build_channel("ofdm-tdl-d:estimator=perfect,speed=30,delay_spread=1e-7,fft_size=48", csi="zf")
    assert isinstance(ofdm, OFDMMultipath)
    assert (ofdm.model, ofdm.estimator, ofdm.speed, ofdm.delay_spread, ofdm.csi, ofdm.grid.fft_size) == (
        "D", "perfect", 30.0, 1e-7, "zf", 48)
    assert build_channel("ofdm-tdl-c:csi=none", csi="zf").csi == "none"  # the spec wins over --csi
    with pytest.raises(ValueError, match="bad option 'speeed=3'.*speed"):
        build_channel("ofdm-tdl-c:speeed=3")
    with pytest.raises(ValueError, match="needs a float"):
        build_channel("rician:k_db=high")
    with pytest.raises(ValueError, match="unknown impairment stage 'noise'"):
        build_channel("noise+awgn")
    with pytest.raises(ValueError, match="estimator must be"):
        build_channel("ofdm-tdl-c:estimator=mmse")


def test_ldpc_link_refuses_channels_it_cannot_demap():
    from genjscc.separation.ldpc import LDPCLink

    link = LDPCLink(mcs="qpsk-1/2")
    option = link.options(2000, build_channel("awgn"), 5.0)[0]
    for spec in ("clip:level_db=3+awgn", "phase-noise+rayleigh"):  # OFDM is demapped: test_ofdm_separation.py
        with pytest.raises(ValueError, match="does not report the noise variance"):
            link.deliver(option, [b"x"], 2000, build_channel(spec), 5.0)
