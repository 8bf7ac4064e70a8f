"""The Projected-GAN-style discriminator on frozen AlexNet features, and a tiny training run with it."""

import json

import pytest
import torch
from typer.testing import CliRunner

from genjscc.cli import app
from genjscc.models.projected_discriminator import ProjectedDiscriminator
from genjscc.models.stylegan2.loaders import load_stylegan2
from genjscc.train.args import TrainerOptions
from genjscc.train.args import StyleGAN2TrainArgs
from genjscc.train.stylegan2 import StyleGAN2Module, train_stylegan2

TINY = dict(size=16, batch_size=4, z_dim=16, w_dim=16, mapping_layers=1, channel_base=64, channel_max=16,
            sample_every=2, r1_every=2, discriminator="projected-alex")


def _options(steps):
    return TrainerOptions(steps=steps, accelerator="cpu", devices="1", checkpoint_every=2, log_every=1, progress=False)


@pytest.fixture(scope="module")
def D():
    return ProjectedDiscriminator(img_resolution=32, input_size=64)


def test_output_shape_and_gradient_to_images(D):
    x = (torch.rand(3, 3, 32, 32) * 2 - 1).requires_grad_()
    logits = D(x)
    assert logits.shape == (3,) and torch.isfinite(logits).all()
    logits.sum().backward()  # the generator needs gradients through the frozen backbone
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(p.grad is not None for p in D.heads.parameters())
    # 16² images and the default 128² input size work too
    assert ProjectedDiscriminator(img_resolution=16)(torch.zeros(2, 3, 16, 16)).shape == (2,)


def test_backbone_frozen_and_not_saved(D):
    backbone = {k: v.clone() for k, v in D.backbone.named_buffers()}
    assert backbone and all(not v.requires_grad for v in D.backbone.buffers())
    assert list(D.backbone.parameters()) == []
    params = dict(D.named_parameters())
    assert params and all(name.startswith("heads.") for name in params)
    # the state dict holds the heads and the small fixed projections, no backbone tensor
    state = D.state_dict()
    assert not any(k.startswith("backbone.") for k in state)
    assert sum(v.numel() for v in state.values()) < 300_000  # AlexNet conv1..5 alone is 2.3 M
    heads_before = {k: v.clone() for k, v in params.items()}
    opt = torch.optim.Adam(D.parameters(), lr=0.01)
    D.train()
    assert not D.backbone.training
    loss = torch.nn.functional.softplus(-D(torch.rand(4, 3, 32, 32) * 2 - 1)).mean()
    loss.backward()
    opt.step()
    assert all(torch.equal(v, dict(D.backbone.named_buffers())[k]) for k, v in backbone.items())
    assert any(not torch.equal(v, params[k]) for k, v in heads_before.items())
    # a fresh instance loads the state dict strictly (same keys) and gives the same logits
    other = ProjectedDiscriminator(img_resolution=32, input_size=64)
    other.load_state_dict(D.state_dict())
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    assert torch.allclose(other(x), D(x), atol=1e-5)


def test_features_then_logits_equals_forward(D):
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    feats = D.features(x)
    assert [f.shape[1] for f in feats] == [D.config.proj_channels] * len(D.config.taps)
    assert torch.allclose(D.logits(feats), D(x))


def test_bad_config_is_refused():
    with pytest.raises(ValueError):
        ProjectedDiscriminator(taps=(5, 1))
    with pytest.raises(ValueError):
        StyleGAN2Module({}, {}, discriminator="vgg-huge")


def test_tiny_projected_training_exports_and_resumes(tmp_path):
    run = tmp_path / "run"
    path = train_stylegan2(StyleGAN2TrainArgs(**TINY, pool=16), run, _options(3))
    meta = json.loads(path.with_suffix(".json").read_text())
    assert meta["training"]["discriminator"] == "projected-alex"
    assert meta["discriminator"]["kind"] == "projected-alex"
    assert json.loads((run / "run.json").read_text())["args"]["discriminator"] == "projected-alex"
    assert "projected-alex" in path.with_suffix(".md").read_text()
    assert meta["training"]["iterations"] == 3 and meta["training"]["images_seen"] == 12
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert not any(".backbone." in k for k in ckpt["state_dict"])
    assert any(k.startswith("D.heads.") for k in ckpt["state_dict"])
    logs = (run / "logs" / "metrics.csv").read_text()
    assert "train/r1" in logs  # lazy R1 (on the heads' inputs) ran
    first = load_stylegan2(path)

    # resuming with another discriminator is refused; with the same arguments it continues to 5 iterations
    with pytest.raises(ValueError, match="--discriminator projected-alex, this command gives --discriminator plain"):
        train_stylegan2(StyleGAN2TrainArgs(**{**TINY, "discriminator": "plain"}, pool=16), run, _options(5), resume=True)
    path = train_stylegan2(StyleGAN2TrainArgs(**{**TINY, "discriminator": "projected-alex"}, pool=16), run, _options(5),
                           resume=True)
    meta = json.loads(path.with_suffix(".json").read_text())
    assert meta["training"]["iterations"] == 5 and meta["training"]["discriminator"] == "projected-alex"
    second = load_stylegan2(path)
    assert any(not torch.equal(a, b) for a, b in zip(first.state_dict().values(), second.state_dict().values()))


def test_cli_rejects_unknown_discriminator(tmp_path):
    result = CliRunner().invoke(app, ["train", "stylegan2", "--size", "16", "--discriminator", "vgg-huge",
                                      "--out", str(tmp_path / "r")])
    assert result.exit_code == 2 and "--discriminator" in result.output
