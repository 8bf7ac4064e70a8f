"""PerceptualDistortion: MSE + λ·LPIPS as a training loss."""

import pytest
import torch

from genjscc.train.losses import PerceptualDistortion
from genjscc.metrics.lpips import LPIPS


@pytest.fixture(scope="module")
def pair():
    g = torch.Generator().manual_seed(0)
    target = torch.rand(2, 3, 32, 32, generator=g)
    return (target + 0.1 * torch.randn(target.shape, generator=g)).clamp(0, 1), target


def test_mse_only_builds_no_network(pair):
    loss = PerceptualDistortion(mse=1.0, lpips=0.0)
    assert loss.lpips is None
    assert torch.allclose(loss(*pair), torch.nn.functional.mse_loss(*pair))


def test_lpips_term_adds_the_weighted_batch_mean(pair):
    recon, target = pair
    lam = 0.5
    loss = PerceptualDistortion(mse=1.0, lpips=lam, net="alex")
    expected = torch.nn.functional.mse_loss(recon, target) + lam * LPIPS("alex")(recon, target).mean()
    value = loss(recon, target)
    assert torch.allclose(value, expected, atol=1e-6)
    assert value > PerceptualDistortion(mse=1.0, lpips=0.0)(recon, target)
    assert set(loss.last) == {"mse", "lpips"}
    assert loss(target, target) == 0


def test_backpropagates_to_the_reconstruction_only(pair):
    recon, target = pair
    recon = recon.clone().requires_grad_(True)
    loss = PerceptualDistortion(mse=1.0, lpips=1.0, net="vgg")
    loss(recon, target).backward()
    assert torch.isfinite(recon.grad).all() and recon.grad.abs().sum() > 0
    assert list(loss.parameters()) == [] and list(loss.buffers()) == [] and loss.state_dict() == {}  # out of ckpts, DDP


def test_rejects_negative_weights():
    with pytest.raises(ValueError, match=">= 0"):
        PerceptualDistortion(mse=1.0, lpips=-0.1)


def test_deepjscc_training_uses_it():
    from genjscc.train.args import DeepJSCCTrainArgs
    from genjscc.train.deepjscc import _build_loss

    loss = _build_loss(DeepJSCCTrainArgs(lpips_weight=0.2, lpips_net="alex"))
    assert isinstance(loss, PerceptualDistortion) and loss.lpips.net == "alex" and loss.lpips_weight == 0.2
    assert _build_loss(DeepJSCCTrainArgs(lpips_weight=0.0)) is None
