"""GenerativeJSCC: model shapes and bandwidth, power, initialisation, training, resume, scheme, errors."""

from __future__ import annotations

from fractions import Fraction

import pytest
import torch
from typer.testing import CliRunner

from genjscc.channel import AWGN
from genjscc.models.deepjscc import DeepJSCC, DeepJSCCConfig
from genjscc.models.generative_jscc import GenerativeJSCC, GenerativeJSCCConfig
from genjscc.models.stylegan2 import load_stylegan2
from genjscc.utils.weights import WeightsError, save_weights

from support import TINY_PRIOR_CONFIG


def _config(**overrides) -> GenerativeJSCCConfig:
    # 16x16 prior, f = 4: C = 8 channels on a 4x4 grid, k = 64 complex symbols, n = 768: rho = 1/12
    return GenerativeJSCCConfig(**{"channels": 8, "generator": TINY_PRIOR_CONFIG, "downsample": 4, "width": 32,
                                   "blocks": 1, "inject_resolution": 16, **overrides})


@pytest.mark.parametrize("decoder, inject", [("residual", 8), ("residual", 16), ("synthesis", 4), ("synthesis", 8)])
def test_shapes_and_bcr(decoder, inject):
    model = GenerativeJSCC(_config(decoder=decoder, inject_resolution=inject)).eval()
    x = torch.rand(3, 3, 16, 16)
    y = model(x, AWGN(), 5.0)
    assert y.shape == x.shape and y.min() >= 0 and y.max() <= 1
    symbols, shape = model.encode(x, torch.full((3,), 5.0))
    assert symbols.shape == (3, 64) and symbols.is_complex()
    assert model.bcr(16, 16) == Fraction(symbols.shape[1], 3 * 16 * 16) == Fraction(1, 12)


@pytest.mark.parametrize("decoder", ["residual", "synthesis"])
def test_power_constraint_per_image(decoder):
    model = GenerativeJSCC(_config(decoder=decoder, inject_resolution=8))
    x = torch.rand(4, 3, 16, 16) * torch.tensor([0.1, 1, 3, 10]).view(4, 1, 1, 1)
    symbols, _ = model.encode(x, torch.zeros(4))
    assert torch.allclose(symbols.abs().square().mean(dim=1), torch.ones(4), atol=1e-5)


def test_starts_at_the_prior_average_style(tiny_prior):
    """Zero-initialised w head: the synthesis starts from the prior's w_avg; noise predicted when asked."""
    G = load_stylegan2(tiny_prior)
    model = GenerativeJSCC(_config(w_codes=2, predict_noise=True))
    model.load_prior(G)
    assert torch.equal(model.w_avg, G.w_avg)
    assert torch.equal(model.synthesis.b16.conv1.weight, G.synthesis.b16.conv1.weight)
    model.eval()
    with torch.no_grad():
        out = model(torch.rand(2, 3, 16, 16), AWGN(), 0.0)
    assert out.shape == (2, 3, 16, 16) and torch.isfinite(out).all()


def test_prior_of_another_config_is_refused(tiny_prior):
    G = load_stylegan2(tiny_prior)
    model = GenerativeJSCC(_config(generator={**TINY_PRIOR_CONFIG, "img_resolution": 32}))
    with pytest.raises(ValueError, match="differs from this model"):
        model.load_prior(G)


def test_wrong_image_size_is_a_clear_error():
    model = GenerativeJSCC(_config())
    with pytest.raises(ValueError, match="decodes 16x16 images"):
        model(torch.rand(1, 3, 32, 32), AWGN(), 0.0)


def test_bad_injection_block_is_a_clear_error():
    with pytest.raises(ValueError, match="inject_resolution"):
        _config(inject_resolution=4)  # below twice the 4x4 latent grid


def test_deepjscc_initialisation_reproduces_that_deepjscc():
    """Encoder and head from a trained DeepJSCC, detail gain 0: the same reconstructions, bit for bit."""
    jscc = DeepJSCC(DeepJSCCConfig(channels=8, downsample=4, arch="resgdn", width=32, blocks=1, snr_adaptive=True))
    model = GenerativeJSCC(_config())
    copied = model.load_deepjscc(jscc)
    assert copied == len(jscc.encoder.state_dict()) + len(jscc.decoder.state_dict())
    jscc.eval(), model.eval()
    x = torch.rand(2, 3, 16, 16)
    with torch.no_grad():
        a = model(x, AWGN(), 3.0, generator=torch.Generator().manual_seed(1))
        b = jscc(x, AWGN(), 3.0, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b)
    with torch.no_grad():
        model.detail_gain.fill_(0.1)  # the synthesis now adds its detail
        c = model(x, AWGN(), 3.0, generator=torch.Generator().manual_seed(1))
    assert (c - b).abs().max() > 1e-3
    with pytest.raises(ValueError, match="resgdn"):
        model.load_deepjscc(DeepJSCC(DeepJSCCConfig(channels=8, downsample=4)))
    with pytest.raises(ValueError, match="does not match"):
        model.load_deepjscc(DeepJSCC(DeepJSCCConfig(channels=8, downsample=4, arch="resgdn", width=48, blocks=1,
                                                    snr_adaptive=True)))


def _train(out, prior, steps, *, resume=False, extra=()):
    from genjscc.cli import app

    args = ["train", "generative", "--prior", str(prior), "--data", f"prior:{prior}", "--size", "16", "--bcr", "1/12",
            "--downsample", "4", "--width", "32", "--blocks", "1", "--inject-resolution", "8", "--lpips-weight", "0",
            "--batch-size", "4", "--steps", str(steps), "--checkpoint-every", "2", "--freeze-synthesis", "1",
            "--sample-every", "0", "--accelerator", "cpu", "--devices", "1", "--no-progress", "--log-every", "1",
            "--out", str(out), *extra]
    if resume:
        args.append("--resume")
    return CliRunner().invoke(app, args)


def test_training_trains_head_then_synthesis(tmp_path, tiny_prior):
    """The synthesis is frozen for the warm-up iteration, then fine-tuned; the card records the run."""
    result = _train(tmp_path / "run", tiny_prior, 3)
    assert result.exit_code == 0, result.output
    trained = GenerativeJSCC.from_weights(tmp_path / "run" / "model.safetensors")
    G = load_stylegan2(tiny_prior)
    assert not torch.equal(trained.synthesis.b16.conv1.weight, G.synthesis.b16.conv1.weight)
    assert torch.equal(trained.synthesis.b4.conv1.weight, G.synthesis.b4.conv1.weight)  # before the injection block
    assert trained.metadata["training"]["images_seen"] == 12
    assert "synthesis frozen for 1 iterations" in (tmp_path / "run" / "model.md").read_text()


def test_training_with_adversarial_term_runs(tmp_path, tiny_prior):
    result = _train(tmp_path / "gan", tiny_prior, 2, extra=["--adversarial-weight", "0.1"])
    assert result.exit_code == 0, result.output
    assert "loss_d" in (tmp_path / "gan" / "logs" / "metrics.csv").read_text()


def test_prior_of_the_wrong_size_is_a_clear_cli_error(tmp_path, tiny_prior):
    from genjscc.cli import app

    result = CliRunner().invoke(app, ["train", "generative", "--prior", str(tiny_prior), "--data", "photos",
                                      "--size", "32", "--steps", "1", "--out", str(tmp_path / "x")])
    assert result.exit_code != 0
    assert "makes 16x16 images, not --size 32" in result.output
    assert not (tmp_path / "x").exists()  # nothing half-written


def test_scheme_evaluates_and_refuses_wrong_weights(tmp_path, tiny_prior, tiny_model):
    from genjscc.schemes import build_scheme

    model = GenerativeJSCC(_config())
    model.load_prior(load_stylegan2(tiny_prior))
    path = save_weights(tmp_path / "gen.safetensors", model.state_dict(), {"kind": "generative", "config": model.config.to_dict()})
    scheme = build_scheme(str(path))
    assert scheme.kind == "generative" and scheme.bcr(16, 16) == Fraction(1, 12)
    out = scheme.transmit(torch.rand(2, 3, 16, 16), AWGN(), 0.0).images
    assert out.shape == (2, 3, 16, 16)
    with pytest.raises(ValueError, match="16x16"):
        scheme.check_size(32, 32)
    with pytest.raises(WeightsError):
        GenerativeJSCC.from_weights(tiny_model)  # a DeepJSCC file
