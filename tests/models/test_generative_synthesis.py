"""GenerativeJSCC's synthesis decoder: the whole prior draws the image from predicted w+ codes and
injected head features (shapes, BCR, power, prior initialisation, latent term, resume, errors)."""

from __future__ import annotations

from fractions import Fraction

import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from genjscc.channel import AWGN
from genjscc.models.deepjscc import DeepJSCC, DeepJSCCConfig
from genjscc.models.generative_jscc import GenerativeJSCC, GenerativeJSCCConfig
from genjscc.models.stylegan2 import load_stylegan2
from genjscc.train.args import GenerativeJSCCTrainArgs, TrainerOptions
from genjscc.train.generative import latent_error, train_generative

from support import TINY_PRIOR_CONFIG


def _config(**overrides) -> GenerativeJSCCConfig:
    # 16x16 prior, f = 4: C = 8 channels on a 4x4 grid, k = 64 complex symbols, n = 768: rho = 1/12
    return GenerativeJSCCConfig(**{"channels": 8, "generator": TINY_PRIOR_CONFIG, "downsample": 4, "width": 32,
                                   "blocks": 1, "decoder": "synthesis", "inject_resolution": 8, **overrides})


@pytest.mark.parametrize("inject, injected", [(4, ["4", "8"]), (8, ["8"])])
def test_features_reach_every_block_from_the_injection_resolution(inject, injected):
    """Shapes and BCR of both decoders: tests/models/test_generative.py::test_shapes_and_bcr."""
    model = GenerativeJSCC(_config(inject_resolution=inject))
    assert sorted(model.inject.keys()) == injected  # every block from inject_resolution to R/2
    assert not hasattr(model, "detail_gain")  # no base image, no shortcut around the prior


def test_starts_as_the_prior_at_its_average_style(tiny_prior):
    """Prior weights loaded, style MLP and injections zero: the output is exactly G.synthesis(w_avg)."""
    G = load_stylegan2(tiny_prior).eval()
    model = GenerativeJSCC(_config(w_codes=2))
    model.load_prior(G)
    theirs = G.synthesis.state_dict()
    assert all(torch.equal(v, theirs[k]) for k, v in model.synthesis.state_dict().items())
    model.eval()
    with torch.no_grad():
        out = model(torch.rand(2, 3, 16, 16), AWGN(), 0.0)
        expected = ((G.synthesis(G.w_avg.expand(2, G.num_ws, -1)) + 1) / 2).clamp(0, 1)
    assert torch.equal(out, expected)
    with torch.no_grad():  # the injected features now change the picture
        model.inject["8"].bias.fill_(0.5)
        changed = model(torch.rand(2, 3, 16, 16), AWGN(), 0.0)
    assert (changed - expected).abs().max() > 1e-3


def test_predicted_styles_follow_the_code_groups():
    model = GenerativeJSCC(_config(w_codes=2))
    with torch.no_grad():
        model.style_mlp[-1].bias.copy_(torch.arange(2 * 32, dtype=torch.float32))
    _, ws = model.predict_styles(torch.randn(3, 8, 4, 4), torch.zeros(3))
    rows = model.synthesis.num_ws
    assert ws.shape == (3, rows, 32)
    first, last = ws[0, 0] - model.w_avg, ws[0, -1] - model.w_avg
    assert torch.equal(first, torch.arange(32.0)) and torch.equal(last, torch.arange(32.0, 64.0))


def test_latent_error_is_relative_to_the_average_style():
    w_avg = torch.randn(32)
    target = torch.randn(5, 32)
    assert latent_error(w_avg.expand(5, 4, 32), target, w_avg).item() == pytest.approx(1.0, rel=1e-5)
    assert latent_error(target.unsqueeze(1).expand(5, 4, 32), target, w_avg).item() == 0.0


def test_deepjscc_of_another_bcr_is_named():
    model = GenerativeJSCC(_config())
    other = DeepJSCC(DeepJSCCConfig(channels=2, downsample=4, arch="resgdn", width=32, blocks=1, snr_adaptive=True))
    with pytest.raises(ValueError, match=r"BCR 1/48.*this model at 1/12"):
        model.load_deepjscc(other)
    same = DeepJSCC(DeepJSCCConfig(channels=8, downsample=4, arch="resgdn", width=32, blocks=1, snr_adaptive=True))
    assert model.load_deepjscc(same) > 0  # the head trunk is DeepJSCC's decoder for either decoder


def test_bad_configurations_are_clear_errors():
    with pytest.raises(ValueError, match="between 4 and 8"):
        _config(inject_resolution=16)  # the last block has no head features to take
    with pytest.raises(ValueError, match="residual decoder only"):
        _config(predict_noise=True)
    with pytest.raises(ValueError, match="decoder must be one of"):
        _config(decoder="pixels")


def _args(prior, **overrides) -> GenerativeJSCCTrainArgs:
    return GenerativeJSCCTrainArgs(**{"prior": str(prior), "data": f"prior:{prior}", "size": 16, "bcr": "1/12",
                                      "downsample": 4, "width": 32, "blocks": 1, "decoder": "synthesis",
                                      "lpips_weight": 0.0, "batch_size": 4, "latent_weight": 1.0, "latent_steps": 2,
                                      "freeze_synthesis": 2, "sample_every": 0, **overrides})


def _options(steps: int) -> TrainerOptions:
    return TrainerOptions(steps=steps, accelerator="cpu", devices="1", checkpoint_every=2, log_every=1, progress=False)


def test_latent_steps_train_the_head_alone_then_everything(tmp_path, tiny_prior):
    path = train_generative(_args(tiny_prior), tmp_path / "run", _options(4))
    rows = (tmp_path / "run" / "logs" / "metrics.csv").read_text().splitlines()
    header = rows[0].split(",")
    by_step = {int(r.split(",")[header.index("step")]): dict(zip(header, r.split(","))) for r in rows[1:]}
    assert by_step[0]["train/latent"] and not by_step[0]["train/mse"]  # latent term alone
    assert by_step[3]["train/latent"] and by_step[3]["train/mse"]  # then the image loss too
    trained, prior = load_file(path), load_stylegan2(tiny_prior).synthesis.state_dict()
    assert not torch.equal(trained["synthesis.b16.conv1.weight"], prior["b16.conv1.weight"])  # fine-tuned after
    assert "latent term (the first 2 iterations on it alone)" in (tmp_path / "run" / "model.md").read_text()
    assert "synthesis:" in (tmp_path / "run" / "model.md").read_text()


def test_synthesis_decoder_resume_equals_uninterrupted(tmp_path, monkeypatch, tiny_prior):
    """Stopped in the latent-only phase, resumed through into end-to-end fine-tuning: the same weights."""
    from support import same_weights as _same, stop_at as _stop_at
    from genjscc.train.common import TrainingInterrupted

    args = _args(tiny_prior, latent_steps=3)
    reference = train_generative(args, tmp_path / "reference", _options(5))
    with monkeypatch.context() as m:
        _stop_at(m, 2, "sigint")
        with pytest.raises(TrainingInterrupted):
            train_generative(args, tmp_path / "run", _options(5))
    resumed = train_generative(args, tmp_path / "run", _options(5), resume=True)
    assert _same(reference, resumed)


def test_latent_term_needs_prior_data_and_the_synthesis_decoder(tiny_prior):
    with pytest.raises(ValueError, match="need --decoder synthesis and --data prior:NAME"):
        _args(tiny_prior, data="photos")
    with pytest.raises(ValueError, match="need --decoder synthesis"):
        _args(tiny_prior, decoder="residual")


def test_prior_of_another_resolution_is_a_clear_cli_error(tmp_path, tiny_prior):
    from genjscc.cli import app

    result = CliRunner().invoke(app, ["train", "generative", "--decoder", "synthesis", "--prior", str(tiny_prior),
                                      "--data", "photos", "--size", "32", "--steps", "1", "--out", str(tmp_path / "x")])
    assert result.exit_code != 0
    assert "makes 16x16 images, not --size 32" in result.output
    assert not (tmp_path / "x").exists()


def test_prior_of_another_config_is_refused(tiny_prior):
    model = GenerativeJSCC(_config(generator={**TINY_PRIOR_CONFIG, "channel_max": 16}))
    with pytest.raises(ValueError, match="differs from this model"):
        model.load_prior(load_stylegan2(tiny_prior))


def test_init_continues_a_model_and_refuses_another(tmp_path, tiny_prior):
    """--init: fine-tuning starts from the given GenerativeJSCC (e.g. trained in range, then photos)."""
    first = train_generative(_args(tiny_prior, latent_steps=1), tmp_path / "first", _options(2))
    args = _args(tiny_prior, latent_weight=0.0, latent_steps=0, init=str(first), lr=1e-12, head_lr=1e-12,
                 synthesis_lr=1e-12)
    second = train_generative(args, tmp_path / "second", _options(1))
    a, b = load_file(first), load_file(second)
    assert max((a[k] - b[k]).abs().max().item() for k in a if a[k].is_floating_point()) < 1e-6
    with pytest.raises(ValueError, match=r"another model: inject_resolution 8 \(this command: 4\)"):
        train_generative(_args(tiny_prior, init=str(first), inject_resolution=4), tmp_path / "third", _options(1))


def test_paper_scale_geometry_256_with_f16():
    """The same code at the paper's setting: a 256x256 prior (14 w+ rows), f = 16, BCR 1/192 (C = 8 on a 16x16
    grid); blocks coarser than the latent grid take pooled latent features (narrow channels keep it cheap)."""
    generator = dict(img_resolution=256, z_dim=32, w_dim=32, channel_base=512, channel_max=16, mapping_layers=2)
    model = GenerativeJSCC(GenerativeJSCCConfig(channels=8, generator=generator, downsample=16, width=32, blocks=1,
                                                decoder="synthesis", inject_resolution=4)).eval()
    assert model.synthesis.num_ws == 14 and sorted(map(int, model.inject.keys())) == [4, 8, 16, 32, 64, 128]
    assert model.bcr(256, 256) == Fraction(1, 192)
    with torch.no_grad():
        y = model(torch.rand(1, 3, 256, 256), AWGN(), -5.0)
    assert y.shape == (1, 3, 256, 256)


def test_config_defaults_its_injection_block_per_decoder():
    """Built directly (not through the trainer), the config picks the injection block itself: the prior's
    resolution for the residual decoder, 8 for the synthesis decoder (the old fixed 64 made a synthesis
    config on any prior fail its own check)."""
    common = dict(channels=8, generator=TINY_PRIOR_CONFIG, downsample=4, width=32, blocks=1)
    assert GenerativeJSCCConfig(**common).inject_resolution == TINY_PRIOR_CONFIG["img_resolution"]
    assert GenerativeJSCCConfig(**common, decoder="synthesis").inject_resolution == 8
