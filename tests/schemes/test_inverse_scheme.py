"""InverseJSCC as a scheme, and the in-range ``prior:NAME`` data it is measured on."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from genjscc.channel import AWGN
from genjscc.data import DataError, load_dataset, stack
from genjscc.data.prior import TEST_SEED_OFFSET
from genjscc.schemes import build_scheme

FAST = {"steps": 3, "lpips": 0}


# ----------------------------------------------------------------------------- prior data


def test_prior_data_is_deterministic_and_splits_by_seed(tiny_prior):
    test = load_dataset(f"prior:{tiny_prior}", "test", 16, limit=4)
    again = stack(load_dataset(f"prior:{tiny_prior}", "test", 16, limit=4))
    assert torch.equal(stack(test), again) and again.shape == (4, 3, 16, 16)
    assert 0 <= again.min() and again.max() <= 1 and again.std() > 0.01
    train = load_dataset(f"prior:{tiny_prior}", "train", 16, seed=0, length=8)
    assert train.first_seed + len(train) < TEST_SEED_OFFSET == test.first_seed  # disjoint seed ranges
    batch = train.__getitems__([0, 1, 2])  # one forward for a batch, equal to single items
    assert torch.allclose(batch[2], train[2], atol=1e-5)
    assert not torch.allclose(train[0], again[0])
    assert test.truncation == 0.7
    assert load_dataset(f"prior:{tiny_prior}@1.0", "test", 16, limit=1).truncation == 1.0


def test_loading_prior_data_leaves_the_global_rng_alone(tiny_prior, tmp_path):
    """Whether or not the prior was loaded before in this process, a run draws the same noise."""
    import shutil

    fresh = tmp_path / "fresh-prior.safetensors"  # a path not in the loader's cache yet
    shutil.copy(tiny_prior, fresh)
    shutil.copy(tiny_prior.with_suffix(".json"), fresh.with_suffix(".json"))
    torch.manual_seed(7)
    load_dataset(f"prior:{fresh}", "train", 16, length=4)
    after_first_load = torch.rand(3)
    torch.manual_seed(7)
    load_dataset(f"prior:{fresh}", "train", 16, length=4)
    assert torch.equal(torch.rand(3), after_first_load)


def test_prior_data_errors_are_clear(tiny_prior):
    with pytest.raises(DataError, match="generates 16x16 images, not 32x32"):
        load_dataset(f"prior:{tiny_prior}", "test", 32)
    with pytest.raises(DataError, match="no model 'nonexistent-prior'"):
        load_dataset("prior:nonexistent-prior", "test", 16)
    with pytest.raises(DataError, match="truncation"):
        load_dataset(f"prior:{tiny_prior}@x", "test", 16)


# ----------------------------------------------------------------------------- scheme


def test_inverse_scheme_sends_and_keeps_the_deepjscc_output(tiny_model, tiny_prior):
    scheme = build_scheme("inverse", jscc=str(tiny_model), prior=str(tiny_prior), **FAST)
    images = stack(load_dataset(f"prior:{tiny_prior}", "test", 16, limit=2))
    with torch.inference_mode():  # evaluation calls schemes in inference mode: the solver must still run
        sent = scheme.transmit(images, AWGN(), 5.0, generator=torch.Generator().manual_seed(0))
    out = sent.images
    assert out.shape == images.shape and 0 <= out.min() and out.max() <= 1
    kind, observed = sent.stages[tiny_model.stem].kind, sent.stages[tiny_model.stem].images
    assert kind == "deepjscc"
    reference = build_scheme(str(tiny_model)).transmit(images, AWGN(), 5.0,
                                                       generator=torch.Generator().manual_seed(0)).images
    assert torch.allclose(observed, reference.clamp(0, 1))  # the same channel draw as DeepJSCC alone
    assert str(scheme.bcr(16, 16)) == "1/48"


def test_inverse_scheme_errors_are_clear(tiny_model, tiny_prior):
    with pytest.raises(ValueError, match="needs a DeepJSCC"):
        build_scheme("inverse", prior=str(tiny_prior))
    with pytest.raises(ValueError, match="unknown prior 'no-such-prior'"):
        build_scheme("inverse", jscc=str(tiny_model), prior="no-such-prior")
    with pytest.raises(ValueError, match="steps"):
        build_scheme("inverse", jscc=str(tiny_model), prior=str(tiny_prior), steps=0)
    with pytest.raises(ValueError, match="unknown-option|has no option"):
        build_scheme("inverse", jscc=str(tiny_model), prior=str(tiny_prior), unknown_option=1)
    scheme = build_scheme("inverse", jscc=str(tiny_model), prior=str(tiny_prior), **FAST)
    with pytest.raises(ValueError, match="takes only 16x16 inputs .got 24x24.: use --size 16"):
        scheme.check_size(24, 24)


def test_a_size_other_than_the_priors_is_refused_before_the_solve(tiny_model, tiny_prior, tmp_path, monkeypatch):
    """8x8 divides the prior's 16x16 and the DeepJSCC's factor 8: it used to run the whole solve and fail after."""
    import genjscc.schemes.inverse as inverse_module
    from genjscc.cli import app
    from genjscc.evaluation.sweep import run_sweep
    from genjscc.utils.images import save_image

    def no_solve(*args, **kwargs):
        raise AssertionError("the solver ran for an image size the prior cannot make")

    monkeypatch.setattr(inverse_module, "invert", no_solve)
    scheme = build_scheme("inverse", jscc=str(tiny_model), prior=str(tiny_prior), **FAST)
    with pytest.raises(ValueError, match="takes only 16x16 inputs"):
        scheme.transmit(torch.rand(2, 3, 8, 8), AWGN(), 0.0)
    options = ["--set", f"jscc={tiny_model}", "--set", f"prior={tiny_prior}", "--set", "steps=3", "--set", "lpips=0"]
    result = CliRunner().invoke(app, ["evaluate", "inverse", *options, "--size", "8", "--limit", "2", "--snr", "0",
                                      "--metrics", "psnr"])
    assert result.exit_code == 2 and "use --size 16" in result.output and "Traceback" not in result.output
    small = tmp_path / "small.png"
    save_image(torch.rand(3, 8, 8), small)
    result = CliRunner().invoke(app, ["transmit", "inverse", str(small), "-o", str(tmp_path / "out.png"), *options])
    assert result.exit_code == 2 and "resize the image to 16x16" in result.output  # transmit has no --size
    assert not (tmp_path / "out.png").exists()
    store = tmp_path / "sweep.jsonl"
    config = {"schemes": [str(tiny_model), {"spec": "inverse", "options": {"jscc": str(tiny_model),
                                                                            "prior": str(tiny_prior), **FAST}}],
              "snr": [0], "size": 8, "limit": 2, "metrics": ["psnr"]}
    with pytest.raises(ValueError, match="takes only 16x16 inputs"):
        run_sweep(config, store)
    assert not store.exists() or store.read_text() == ""  # not even the DeepJSCC point ran first


def test_cli_evaluate_records_both_outputs_paired(tiny_model, tiny_prior):
    from genjscc.cli import app

    result = CliRunner().invoke(app, [
        "evaluate", "inverse", "--set", f"jscc={tiny_model}", "--set", f"prior={tiny_prior}", "--set", "steps=3",
        "--set", "lpips=0", "--data", f"prior:{tiny_prior}", "--size", "16", "--limit", "3", "--snr", "0",
        "--metrics", "psnr", "--format", "json",
    ])
    assert result.exit_code == 0, result.output
    records = json.loads(result.stdout)["results"]
    by_kind = {r["scheme"]: r for r in records}
    assert set(by_kind) == {"inverse", "deepjscc"}
    assert by_kind["deepjscc"]["model"] == tiny_model.stem
    assert by_kind["inverse"]["n"] == by_kind["deepjscc"]["n"] == 3
    assert by_kind["inverse"]["mean"] != by_kind["deepjscc"]["mean"]
