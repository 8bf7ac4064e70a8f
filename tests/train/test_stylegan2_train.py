"""A tiny StyleGAN2 training run with resume, DiffAugment, and the sample/convert commands."""

import json

import pytest
import torch
from typer.testing import CliRunner

from genjscc.cli import app
from genjscc.models.stylegan2.loaders import load_stylegan2
from genjscc.train.args import TrainerOptions
from genjscc.train.args import StyleGAN2TrainArgs, parse_duration
from genjscc.train.augment import diff_augment
from genjscc.train.stylegan2 import train_stylegan2

TINY = dict(size=16, batch_size=4, z_dim=16, w_dim=16, mapping_layers=1, channel_base=64, channel_max=16,
            sample_every=2, r1_every=2)


def _options(steps):
    return TrainerOptions(steps=steps, accelerator="cpu", devices="1", checkpoint_every=2, log_every=1, progress=False)


def test_tiny_training_exports_and_resumes(tmp_path):
    run = tmp_path / "run"
    path = train_stylegan2(StyleGAN2TrainArgs(**TINY, pool=16, kid_images=2, kid_every=2), run, _options(3))
    meta = json.loads(path.with_suffix(".json").read_text())
    kid = [json.loads(line) for line in (run / "kid.jsonl").read_text().splitlines()]
    assert [r["iteration"] for r in kid] == [2, 3] and all("kid_train" in r and "kid_test" in r for r in kid)
    assert (run / "best.safetensors").exists() and "kid_train" in meta["metrics"]
    assert meta["kind"] == "stylegan2" and meta["training"]["iterations"] == 3
    assert meta["training"]["images_seen"] == 12
    assert (run / "samples" / "iter0000002.png").exists() and (run / "samples" / "final.png").exists()
    first = load_stylegan2(path)
    assert first(torch.randn(2, 16)).shape == (2, 3, 16, 16)

    # resume to 5 iterations: counters continue, weights move on
    with pytest.raises(FileExistsError):
        train_stylegan2(StyleGAN2TrainArgs(**TINY, pool=16), run, _options(5))
    path = train_stylegan2(StyleGAN2TrainArgs(**TINY, pool=16), run, _options(5), resume=True)
    meta = json.loads(path.with_suffix(".json").read_text())
    assert meta["training"]["iterations"] == 5 and meta["training"]["images_seen"] == 20
    second = load_stylegan2(path)
    assert any(not torch.equal(a, b) for a, b in zip(first.state_dict().values(), second.state_dict().values()))
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert ckpt["iteration"] == 5 and ckpt["images_seen"] == 20  # host counters, saved with the checkpoint

    # the sample command reads the export
    out = tmp_path / "grid.png"
    result = CliRunner().invoke(app, ["sample", str(path), "-n", "4", "-o", str(out), "--truncation", "0.7"])
    assert result.exit_code == 0, result.output
    assert out.exists()


def test_diff_augment_shapes_and_gradients():
    x = torch.rand(6, 3, 16, 16, requires_grad=True)
    y = diff_augment(x * 2 - 1, "color,translation,cutout")
    assert y.shape == x.shape
    y.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    # translation alone only moves pixels (or zero-fills): every output value is 0 or an input value
    t = diff_augment(x.detach(), "translation")
    values = set(x.detach().flatten().tolist()) | {0.0}
    assert all(v in values for v in t.flatten().tolist())
    with pytest.raises(ValueError):
        diff_augment(x, "rotate")


def test_parse_duration():
    assert parse_duration("00:00:07:30") == 450
    assert parse_duration("90") == 90
    assert parse_duration("") is None


def test_cli_rejects_bad_sizes(tmp_path):
    result = CliRunner().invoke(app, ["train", "stylegan2", "--size", "48", "--out", str(tmp_path / "r")])
    assert result.exit_code == 2 and "power of two" in result.output
