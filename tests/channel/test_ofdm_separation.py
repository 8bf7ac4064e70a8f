"""Soft demapping over OFDM: ``Channel.receive_soft`` and the 5G LDPC + QAM link on ofdm-tdl-*.

Tolerances: for a complex Gaussian error ``n`` of variance ``v``, ``|n|^2 / v`` is Exp(1)
(mean 1, std 1), so a mean over M samples has standard error ``1 / sqrt(M)``. The bounds
below are >= 5 standard errors.
"""

import math

import numpy as np
import pytest
import torch

from genjscc.channel import AWGN, BlockRayleigh, SoftSymbols, noise_variance, snr_tensor
from genjscc.channel.registry import build_channel
from genjscc.channel.ofdm import OFDMMultipath

CPU = torch.device("cpu")


def qpsk(batch: int, k: int, seed: int) -> torch.Tensor:
    """Unit-modulus QPSK symbols ``[B, k]``: ``|x|^2 = P = 1`` exactly, so ``e |x|^2 = e P`` per symbol."""
    bits = torch.randint(0, 2, (batch, k, 2), generator=torch.Generator().manual_seed(seed)).float()
    return torch.complex(2 * bits[..., 0] - 1, 2 * bits[..., 1] - 1) / math.sqrt(2)


class FlatVarianceOFDM(OFDMMultipath):
    """The broken receiver: the OFDM link's symbols with the flat AWGN variance ``sigma^2`` on every RE."""

    def receive_soft(self, z, snr_db, *, h=None, generator=None):
        soft = super().receive_soft(z, snr_db, h=h, generator=generator)
        sigma2 = noise_variance(snr_tensor(snr_db, z.shape[0])).unsqueeze(1)
        return SoftSymbols(soft.symbols, sigma2.expand(soft.noise_variance.shape))


def _random_files(count: int, size: int, seed: int) -> list[bytes]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, size, dtype=np.uint8).tobytes() for _ in range(count)]


def _deliver(channel, mcs: str, snr_db: float, *, images: int = 24, prune_margin_db=None, seed: int = 5):
    from genjscc.separation.ldpc import LDPCLink

    link = LDPCLink(mcs=mcs, prune_margin_db=prune_margin_db)
    (option,) = link.options(1024, channel, snr_db)
    files = _random_files(images, option.budget_bytes, 0)
    return link.deliver(option, files, 1024, channel, snr_db, generator=torch.Generator().manual_seed(seed))


# ----------------------------------------------------------------------------- the interface


def test_awgn_soft_symbols_are_its_forward_output_with_sigma2_per_image():
    z = qpsk(3, 500, 0)
    snr = torch.tensor([0.0, 10.0, 20.0])
    soft = AWGN().receive_soft(z, snr, generator=torch.Generator().manual_seed(1))
    assert torch.equal(soft.symbols, AWGN()(z, snr, generator=torch.Generator().manual_seed(1)))
    assert torch.allclose(soft.noise_variance, torch.tensor([1.0, 0.1, 0.01]).unsqueeze(1).expand(3, 500))


def test_flat_fading_soft_symbols_are_zero_forcing_with_sigma2_over_gain():
    """Same draws as forward (fading, then noise): the LDPC link's numbers over AWGN and Rayleigh do not move."""
    z = qpsk(8, 300, 0)
    channel = BlockRayleigh(csi="mmse")
    soft = channel.receive_soft(z, 5.0, generator=torch.Generator().manual_seed(2))
    zf = BlockRayleigh(csi="zf")(z, 5.0, generator=torch.Generator().manual_seed(2))
    assert torch.equal(soft.symbols, zf)
    h = channel.draw_fading(z, generator=torch.Generator().manual_seed(2))
    assert torch.allclose(soft.noise_variance, (10 ** -0.5 / h.abs().square()).expand(8, 300), rtol=1e-5)


@pytest.mark.parametrize("spec", ["rayleigh:csi=none", "ofdm-tdl-c:csi=none"])
def test_soft_reception_needs_a_coherent_receiver(spec):
    with pytest.raises(ValueError, match="coherent receiver"):
        build_channel(spec).receive_soft(qpsk(1, 100, 0), 10.0)


def test_ofdm_soft_symbols_are_the_zero_forcing_output_of_the_same_draws():
    z = qpsk(2, 1500, 0)
    for estimator in ("perfect", "ls"):
        soft = OFDMMultipath(estimator=estimator, csi="mmse").receive_soft(z, 5.0, generator=torch.Generator().manual_seed(3))
        zf = OFDMMultipath(estimator=estimator, csi="zf")(z, 5.0, generator=torch.Generator().manual_seed(3))
        assert soft.symbols.shape == soft.noise_variance.shape == z.shape
        assert torch.allclose(soft.symbols, zf, rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------------- calibration


def test_perfect_csi_noise_variance_matches_the_error_in_every_decile_of_fading():
    """With perfect CSI ``|Y/H - X|^2 / v = |W|^2 / sigma^2`` exactly: mean 1 in every decile of ``v``.
    The flat variance ``sigma^2`` is off by orders of magnitude in the deep fades."""
    z = qpsk(32, 1728, 0)  # 32 x 2 slots: 55,296 REs, 5,530 per decile: SE 0.013
    soft = OFDMMultipath(estimator="perfect").receive_soft(z, 10.0, generator=torch.Generator().manual_seed(4))
    error = (soft.symbols - z).abs().square().flatten()
    v = soft.noise_variance.flatten()
    decile = torch.bucketize(v, torch.quantile(v, torch.linspace(0.1, 0.9, 9)))
    calibrated = torch.stack([(error / v)[decile == d].mean() for d in range(10)])
    assert torch.allclose(calibrated, torch.ones(10), atol=0.07), calibrated
    flat = torch.stack([(error / 0.1)[decile == d].mean() for d in range(10)])
    assert flat[-1] > 10 and flat[0] < 0.6  # what a flat-variance demapper would assume is wrong at both ends


def test_ls_noise_variance_matches_the_error_on_every_ofdm_symbol():
    """LS + linear interpolation between pilot symbols 2 and 11: the estimate's error variance is
    ``sigma^2 (w_0^2 + w_1^2)``, from 0.51 sigma^2 mid-slot to 1.54 sigma^2 at the extrapolated edges.
    Sionna's interpolated variance (``sigma^2`` everywhere) gives ratios 0.75 ... 1.27 here."""
    z = qpsk(48, 1728, 0)  # per OFDM symbol: 48 x 2 x 72 = 6,912 REs, SE 0.012
    channel = OFDMMultipath(estimator="ls", speed=0.0)  # static within the slot: no interpolation model error
    soft = channel.receive_soft(z, 10.0, generator=torch.Generator().manual_seed(5))
    ratio = ((soft.symbols - z).abs().square() / soft.noise_variance).reshape(48, 2, 12, 72)
    per_symbol = ratio.mean(dim=(0, 1, 3))
    assert torch.allclose(per_symbol, torch.ones(12), atol=0.07), per_symbol


def test_ls_estimate_error_variance_matches_its_theory_on_every_ofdm_symbol():
    channel = OFDMMultipath(estimator="ls", speed=0.0)
    g = torch.Generator().manual_seed(6)
    x = channel.transmit_grid(qpsk(32, 1728, 0))
    h = channel.draw_response(64, CPU, generator=g).reshape(x.shape)
    sigma2 = 0.1
    y = h * x + math.sqrt(sigma2) * torch.view_as_complex(torch.randn(*x.shape, 2, generator=g) * math.sqrt(0.5))
    h_hat, err = channel.estimate(y, torch.tensor(sigma2))
    measured = (h_hat - h).abs().square().mean(dim=(0, 1, 3))  # [14]: 4,608 REs each, SE 1.5 %
    stated = err.mean(dim=(0, 1, 3))
    assert torch.allclose(measured / stated, torch.ones(14), atol=0.08), measured / stated
    w = (torch.arange(14.0) - 2) / 9  # weight of pilot symbol 11 at symbol t
    assert torch.allclose(stated, sigma2 * ((1 - w) ** 2 + w**2), rtol=1e-4)


# ----------------------------------------------------------------------------- the LDPC link over OFDM


@pytest.mark.parametrize("estimator", ["perfect", "ls"])
def test_ldpc_over_ofdm_is_bit_exact_at_high_snr(estimator):
    ok = _deliver(OFDMMultipath(estimator=estimator), "64qam-r2/3", 30.0, images=6, prune_margin_db=1.0)
    assert ok.all()  # every information bit of every codeword of every image


@pytest.mark.parametrize(("estimator", "mcs", "snr_db"), [("perfect", "16qam-r1/2", 10.0), ("ls", "qpsk-r1/2", 6.0)])
def test_ldpc_over_a_faded_tdl_channel_needs_the_per_re_variance(estimator, mcs, snr_db):
    """Same files, fading and noise: the per-RE variance decodes (nearly) every image; the flat AWGN
    variance makes the deep-faded REs' LLRs overconfident and loses many of them."""
    right = _deliver(OFDMMultipath(estimator=estimator), mcs, snr_db)
    flat = _deliver(FlatVarianceOFDM(estimator=estimator), mcs, snr_db)
    assert int(right.sum()) >= 19, right
    assert int(flat.sum()) <= int(right.sum()) - 6, (right, flat)


def test_capacity_pruning_changes_no_outcome_over_ofdm_with_ls():
    """With estimated CSI the pruning bound is the rate the receiver's own noise model allows: at the
    edge where it prunes some images (qpsk-r2/3, 3 dB) nothing pruned would have decoded, and where
    images decode (qpsk-r1/2, 5 dB: 9 of 12) it prunes none of them."""
    from genjscc.separation.ldpc import LDPCLink, parse_mcs

    channel = OFDMMultipath(estimator="ls")
    delivered, pruned = 0, 0
    for mcs, snr_db in (("qpsk-r2/3", 3.0), ("qpsk-r1/2", 5.0)):
        with_pruning = _deliver(channel, mcs, snr_db, images=12, prune_margin_db=1.0)
        without = _deliver(channel, mcs, snr_db, images=12, prune_margin_db=None)
        assert torch.equal(with_pruning, without), (mcs, with_pruning, without)
        # the link's noise variances: the same draws whatever the symbols (H, H^ and W do not depend on them)
        v = channel.receive_soft(torch.zeros(12, 1024, dtype=torch.complex64), snr_db,
                                 generator=torch.Generator().manual_seed(5)).noise_variance
        pruned += int(LDPCLink(prune_margin_db=1.0).beyond_capacity(parse_mcs(mcs), 1.0 / v).sum())
        delivered += int(without.sum())
    assert 0 < pruned < 24 and 0 < delivered < 24, (pruned, delivered)


def test_separation_scheme_over_ofdm_sends_the_codec_file_intact():
    from genjscc.data import load_dataset, stack
    from genjscc.schemes import build_scheme

    crops = stack(load_dataset("photos", "test", 64, limit=2))
    scheme = build_scheme("separation", codec="webp", code="ldpc", bcr="1/12")
    out = scheme.transmit(crops, build_channel("ofdm-tdl-c"), 30.0, generator=torch.Generator().manual_seed(0)).images
    choice = scheme.choices[(build_channel("ofdm-tdl-c").describe(), 30.0)]
    assert choice.option == "64qam-r2/3" and choice.delivered == 2
    sent = torch.stack([scheme.codec.decode(scheme.codec.encode(c, choice.budget_bytes), (64, 64)) for c in crops])
    assert torch.equal(out, sent)
