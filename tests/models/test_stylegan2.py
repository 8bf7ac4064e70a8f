"""StyleGAN2 model: shapes, modulated convolution, FIR resampling, truncation, noise modes, inversion hooks."""

import math

import pytest
import torch
import torch.nn.functional as F

from genjscc.models.stylegan2 import Discriminator, Generator
from genjscc.models.stylegan2.ops import conv2d_resample, fir_filter, modulated_conv2d, upsample2d

TINY = dict(img_resolution=16, z_dim=32, w_dim=32, mapping_layers=2, channel_base=256, channel_max=32)


def tiny_generator(**overrides) -> Generator:
    G = Generator(**{**TINY, **overrides}).eval()
    with torch.no_grad():  # give noise and w_avg visible effects
        for block in G.synthesis.blocks():
            for layer in block.layers():
                layer.noise_strength.fill_(0.3)
        G.mapping.w_avg.normal_()
    return G


@pytest.mark.parametrize("res", [16, 32])
def test_shapes_and_num_ws(res):
    G = tiny_generator(img_resolution=res)
    D = Discriminator(img_resolution=res, channel_base=256, channel_max=32)
    z = torch.randn(4, 32)
    ws = G.mapping(z)
    assert G.num_ws == 2 * int(math.log2(res)) - 2 == ws.shape[1]
    img = G(z)
    assert img.shape == (4, 3, res, res) and img.dtype == torch.float32
    assert D(img).shape == (4, 1)
    assert len(G.synthesis.noise_buffers()) == G.num_ws - 1


def test_modulated_conv_equals_grouped_convolution():
    # the per-sample-weight (grouped) form of the paper, written independently
    x, weight, styles = torch.randn(3, 5, 8, 8), torch.randn(7, 5, 3, 3), torch.randn(3, 5)
    w = weight[None] * styles[:, None, :, None, None]
    w = w * (w.square().sum(dim=[2, 3, 4], keepdim=True) + 1e-8).rsqrt()
    ref = F.conv2d(x.reshape(1, 15, 8, 8), w.reshape(21, 5, 3, 3), padding=1, groups=3).reshape(3, 7, 8, 8)
    torch.testing.assert_close(modulated_conv2d(x, weight, styles), ref, atol=1e-5, rtol=1e-5)


def test_upsampling_conv_equals_upsample_then_conv():
    # transposed conv + blur == zero-stuffed FIR upsampling followed by the (flipped) 3x3 conv
    x, weight = torch.randn(2, 4, 6, 6), torch.randn(5, 4, 3, 3)
    f = fir_filter()
    fast = conv2d_resample(x, weight, f, up=2)
    slow = F.conv2d(upsample2d(x, f), weight.flip([2, 3]), padding=1)
    assert fast.shape == (2, 5, 12, 12)
    # the two differ only in where the blur sits relative to the conv: compare away from borders
    torch.testing.assert_close(fast[..., 2:-2, 2:-2], slow[..., 2:-2, 2:-2], atol=1e-4, rtol=1e-4)


def test_fir_resampling_preserves_constants():
    f = fir_filter()
    up = upsample2d(torch.ones(1, 1, 8, 8), f)
    assert up.shape == (1, 1, 16, 16)
    torch.testing.assert_close(up[..., 2:-2, 2:-2], torch.ones(1, 1, 12, 12))
    down = conv2d_resample(torch.ones(1, 1, 8, 8), torch.ones(1, 1, 1, 1), f, down=2)
    assert down.shape == (1, 1, 4, 4)
    torch.testing.assert_close(down[..., 1:-1, 1:-1], torch.ones(1, 1, 2, 2))


def test_truncation():
    G = tiny_generator()
    z = torch.randn(3, 32)
    with torch.no_grad():
        same = G(z, truncation_psi=0.0)
        torch.testing.assert_close(same[0], same[1])
        ws = G.mapping(z, truncation_psi=0.5)
        torch.testing.assert_close(ws, G.w_avg.lerp(G.mapping(z), 0.5))
        cut = G.mapping(z, truncation_psi=0.0, truncation_cutoff=2)
        torch.testing.assert_close(cut[:, :2], G.w_avg.expand(3, 2, -1))
        torch.testing.assert_close(cut[:, 2:], G.mapping(z)[:, 2:])
        assert not torch.allclose(G(z, truncation_psi=0.7), G(z))


def test_noise_modes():
    G = tiny_generator()
    z = torch.randn(2, 32)
    with torch.no_grad():
        torch.testing.assert_close(G(z, noise_mode="const"), G(z, noise_mode="const"))
        assert not torch.allclose(G(z, noise_mode="random"), G(z, noise_mode="random"))
        assert not torch.allclose(G(z, noise_mode="none"), G(z, noise_mode="const"))
        ws = G.mapping(z)
        zeros = [torch.zeros_like(b) for b in G.synthesis.noise_buffers()]
        torch.testing.assert_close(G.synthesis(ws, noises=zeros), G(z, noise_mode="none"))
    with pytest.raises(ValueError, match="noise_mode"):
        G(z, noise_mode="bogus")


def test_synthesis_from_an_intermediate_block():
    G = tiny_generator()
    ws = G.mapping(torch.randn(2, 32))
    with torch.no_grad():
        full, features = G.synthesis(ws, return_features=True)
        assert [f.shape[-1] for f in features] == [4, 8, 16]
        x, img = G.synthesis(ws, stop=2)
        torch.testing.assert_close(x, features[1])
        torch.testing.assert_close(G.synthesis(ws, start=2, x=x, img=img), full)
    with pytest.raises(ValueError):
        G.synthesis(ws, start=1)


def test_gradients_reach_every_parameter():
    G = Generator(**TINY)
    D = Discriminator(img_resolution=16, channel_base=256, channel_max=32)
    G.synthesis.b16.conv1.noise_strength.data.fill_(0.1)
    D(G(torch.randn(4, 32), noise_mode="random")).sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in G.parameters())
    assert all(p.grad is not None for p in D.parameters())
