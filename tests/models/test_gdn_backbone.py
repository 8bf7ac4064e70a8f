import math

import pytest
import torch

from genjscc.layers.gdn import GDN, IGDN
from genjscc.models.jscc_backbones import ResidualGDNDecoder, ResidualGDNEncoder, stage_widths


def set_gdn(layer: GDN, beta: list[float], gamma: list[list[float]]) -> None:
    """Load beta and gamma into the reparametrised parameters (p = sqrt(value + pedestal))."""
    pedestal = 2.0**-36
    with torch.no_grad():
        layer.beta_param.copy_(torch.tensor(beta).add(pedestal).sqrt())
        layer.gamma_param.copy_(torch.tensor(gamma).add(pedestal).sqrt())


# ----------------------------------------------------------------------------- GDN


def test_gdn_shape_and_zero_input():
    layer = GDN(6)
    x = torch.randn(2, 6, 5, 7)
    assert layer(x).shape == x.shape and IGDN(6)(x).shape == x.shape
    assert torch.equal(layer(torch.zeros(1, 6, 3, 3)), torch.zeros(1, 6, 3, 3))
    with pytest.raises(ValueError, match=r"\[B, 6, H, W\]"):
        layer(torch.randn(2, 5, 4, 4))


def test_gdn_matches_hand_computed_formula():
    beta, gamma = [1.0, 2.0], [[0.5, 0.25], [0.0, 1.0]]
    gdn, igdn = GDN(2), IGDN(2)
    set_gdn(gdn, beta, gamma)
    set_gdn(igdn, beta, gamma)
    x = torch.tensor([1.0, 2.0])[None, :, None, None]
    # norm_0 = 1 + 0.5 * 1^2 + 0.25 * 2^2 = 2.5; norm_1 = 2 + 0 * 1^2 + 1 * 2^2 = 6
    expected = torch.tensor([1 / math.sqrt(2.5), 2 / math.sqrt(6.0)])
    assert torch.allclose(gdn(x).flatten(), expected, rtol=1e-6)
    assert torch.allclose(igdn(x).flatten(), torch.tensor([math.sqrt(2.5), 2 * math.sqrt(6.0)]), rtol=1e-6)


def test_gdn_reparametrisation_keeps_parameters_valid_and_trainable():
    layer = GDN(3, beta_min=1e-4)
    with torch.no_grad():
        layer.beta_param.fill_(-5.0)
        layer.gamma_param.fill_(-5.0)
    assert (layer.beta >= 1e-4 - 1e-9).all() and (layer.gamma >= 0).all()
    # at the bound, a gradient step that would lower the parameter is blocked; one that raises it passes
    layer.beta.sum().backward()
    assert (layer.beta_param.grad == 0).all()  # pushing beta down at the bound is blocked
    layer.zero_grad()
    (-layer.beta.sum()).backward()
    assert (layer.beta_param.grad < 0).all()  # descent raises beta_param back above the bound


# ----------------------------------------------------------------------------- backbone


@pytest.mark.parametrize("channels", [8, 32])
def test_encoder_decoder_shapes_and_range(channels):
    enc = ResidualGDNEncoder(channels, downsample=8, width=32)
    dec = ResidualGDNDecoder(channels, downsample=8, width=32)
    x = torch.rand(3, 3, 64, 48) * 2 - 1
    snr = torch.tensor([-5.0, 0.0, 10.0])
    z = enc(x, snr)
    assert z.shape == (3, channels, 8, 6)
    y = dec(z, snr)
    assert y.shape == (3, 3, 64, 48) and y.min() >= 0 and y.max() <= 1


@pytest.mark.parametrize("downsample", [2, 4, 16])
def test_other_downsampling_factors(downsample):
    enc = ResidualGDNEncoder(4, downsample=downsample, width=16, blocks=1)
    dec = ResidualGDNDecoder(4, downsample=downsample, width=16, blocks=1)
    z = enc(torch.rand(1, 3, 32, 32), torch.zeros(1))
    assert z.shape == (1, 4, 32 // downsample, 32 // downsample)
    assert dec(z, torch.zeros(1)).shape == (1, 3, 32, 32)
    assert len(stage_widths(downsample, 64)) == int(math.log2(downsample))
    with pytest.raises(ValueError, match="downsample"):
        stage_widths(3, 64)


def test_gradients_reach_every_parameter():
    torch.manual_seed(0)
    enc, dec = ResidualGDNEncoder(8, 8, width=32), ResidualGDNDecoder(8, 8, width=32)
    x = torch.rand(2, 3, 32, 32)
    snr = torch.tensor([0.0, 5.0])
    loss = (dec(enc(x * 2 - 1, snr), snr) - x).square().mean()
    loss.backward()
    for name, p in [*enc.named_parameters(), *dec.named_parameters()]:
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        if not name.endswith("gamma_param"):  # off-diagonal gamma starts at its bound
            assert p.grad.abs().sum() > 0, name


def test_snr_attention_changes_the_output():
    torch.manual_seed(0)
    enc, dec = ResidualGDNEncoder(8, 8, width=32), ResidualGDNDecoder(8, 8, width=32)
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    lo, hi = torch.tensor([-5.0]), torch.tensor([10.0])
    assert not torch.allclose(enc(x, lo), enc(x, hi))
    z = enc(x, lo)
    assert not torch.allclose(dec(z, lo), dec(z, hi))
    plain_enc = ResidualGDNEncoder(8, 8, width=32, snr_adaptive=False)
    plain_dec = ResidualGDNDecoder(8, 8, width=32, snr_adaptive=False)
    assert torch.equal(plain_enc(x, lo), plain_enc(x, hi))
    assert torch.equal(plain_dec(z, lo), plain_dec(z, None))
    with pytest.raises(ValueError, match="snr_db"):
        enc(x, None)


def test_a_few_steps_reduce_the_reconstruction_error():
    torch.manual_seed(0)
    enc, dec = ResidualGDNEncoder(16, 4, width=16, blocks=1), ResidualGDNDecoder(16, 4, width=16, blocks=1)
    x = torch.nn.functional.interpolate(torch.rand(4, 3, 4, 4), size=16, mode="bilinear")  # smooth images
    snr = torch.full((4,), 10.0)
    opt = torch.optim.Adam([*enc.parameters(), *dec.parameters()], lr=1e-2)
    losses = []
    for _ in range(60):
        loss = (dec(enc(x * 2 - 1, snr), snr) - x).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.2 * losses[0]
