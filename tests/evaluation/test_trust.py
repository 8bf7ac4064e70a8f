"""Bad input is a clear error (exit 2, names the option or file and the fix), never silent corruption."""

from __future__ import annotations

import json
import os
import stat

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save_file
from typer.testing import CliRunner

from genjscc.cli import app
from genjscc.utils.images import DataError, load_image, save_image
from genjscc.models.deepjscc import DeepJSCC
from genjscc.utils.weights import WeightsError, save_weights

runner = CliRunner()


# ----------------------------------------------------------------------------- image modes


def test_16_bit_grayscale_keeps_its_range(tmp_path):
    ramp = (np.linspace(0, 65535, 64 * 64).reshape(64, 64)).astype(np.uint16)
    path = tmp_path / "deep.png"
    Image.fromarray(ramp).save(path)
    assert Image.open(path).mode in ("I;16", "I")
    x = load_image(path)
    assert x.shape == (3, 64, 64)
    assert x.min() == 0 and x.max() == 1 and abs(x.mean().item() - 0.5) < 0.01  # not clipped to white
    assert torch.equal(x[0], x[1]) and torch.equal(x[1], x[2])


@pytest.mark.parametrize("mode", ["P", "CMYK", "LA", "L", "1", "RGBA", "I", "F"])
def test_every_mode_reads_in_range(tmp_path, mode):
    rng = np.random.default_rng(0)
    rgb = Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8))
    if mode == "F":
        im = Image.fromarray(rng.random((16, 16), dtype=np.float32), mode="F")
        path = tmp_path / "x.tiff"
    elif mode == "I":
        im = Image.fromarray(rng.integers(0, 65536, (16, 16)).astype(np.int32), mode="I")
        path = tmp_path / "x.tiff"
    else:
        im = rgb.convert(mode)
        path = tmp_path / ("x.jpg" if mode == "CMYK" else "x.png")
    im.save(path)
    x = load_image(path)
    assert x.shape == (3, 16, 16) and x.dtype == torch.float32
    assert 0 <= x.min() and x.max() <= 1 and x.std() > 0.05  # full range, not a constant
    if mode == "F":
        assert torch.allclose(x[0], torch.from_numpy(np.asarray(im)), atol=1e-6)


def test_decompression_bomb_is_a_clear_error(tmp_path, monkeypatch):
    path = tmp_path / "big.png"
    Image.new("L", (300, 200)).save(path)
    monkeypatch.setenv("GENJSCC_MAX_PIXELS", "50000")
    with pytest.raises(DataError, match=r"300x200 = 60,000 pixels.*limit of 50,000.*GENJSCC_MAX_PIXELS"):
        load_image(path)
    monkeypatch.setenv("GENJSCC_MAX_PIXELS", "60000")
    assert load_image(path).shape == (3, 200, 300)


# ----------------------------------------------------------------------------- outputs


def test_transmit_refuses_to_overwrite_its_input(tiny_model, tmp_path):
    src = tmp_path / "x.png"
    save_image(torch.rand(3, 16, 16), src)
    before = src.read_bytes()
    result = runner.invoke(app, ["transmit", str(tiny_model), str(src), "-o", str(src)])
    assert result.exit_code == 2 and "is the input file" in result.output
    assert src.read_bytes() == before


@pytest.mark.parametrize("case", ["missing", "folder", "readonly"])
def test_unwritable_outputs_are_clear_errors(tiny_model, tmp_path, case):
    src = tmp_path / "x.png"
    save_image(torch.rand(3, 16, 16), src)
    target = {"missing": tmp_path / "nope" / "o.png", "folder": tmp_path, "readonly": tmp_path / "ro" / "o.png"}[case]
    if case == "readonly":
        target.parent.mkdir()
        target.parent.chmod(stat.S_IRUSR | stat.S_IXUSR)
        if os.access(target.parent, os.W_OK):  # root ignores permissions
            pytest.skip("running as root: a read-only folder is writable")
    for command in (["transmit", str(tiny_model), str(src), "-o", str(target)],
                    ["sample", "stylegan2-photos64", "-n", "1", "-o", str(target)]):
        result = runner.invoke(app, command)
        assert result.exit_code == 2, result.output
        assert {"missing": "does not exist", "folder": "is a folder", "readonly": "not writable"}[case] in result.output
        assert "Traceback" not in result.output
    assert not list(tmp_path.rglob("*.part"))


def test_output_files_get_ordinary_permissions(tmp_path):
    path = save_weights(tmp_path / "m.safetensors", {"a": torch.zeros(2)}, {"kind": "x"}, card="card")
    modes = {p.suffix: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()}
    assert modes[".safetensors"] == modes[".json"] == modes[".md"]
    assert path.exists() and not list(tmp_path.glob(".*part*"))


# ----------------------------------------------------------------------------- malformed weights


def _variant(tmp_path, tiny_model, name, tensors=None, header=None):
    state = load_file(tiny_model)
    meta = json.loads(tiny_model.with_suffix(".json").read_text())
    path = tmp_path / f"{name}.safetensors"
    save_file(tensors(state) if tensors else state, str(path),
              metadata={"genjscc": header(meta) if header else json.dumps(meta)})
    return path


@pytest.mark.parametrize("name, tensors, header, message", [
    ("shape", lambda s: {**s, "encoder.layers.0.weight": torch.zeros(4, 3, 3, 3)}, None, "encoder.layers.0.weight"),
    ("missing", lambda s: {k: v for k, v in s.items() if k != "decoder.layers.0.bias"}, None, "decoder.layers.0.bias"),
    ("extra", lambda s: {**s, "stray": torch.zeros(1)}, None, "stray"),
    ("json", None, lambda m: "{not json", "not valid JSON"),
    ("type", None, lambda m: json.dumps({**m, "config": {**m["config"], "channels": "eight"}}), "channels"),
    ("noconfig", None, lambda m: json.dumps({"kind": "deepjscc"}), "config"),
])
def test_malformed_weights_name_file_and_field(tiny_model, tmp_path, name, tensors, header, message):
    path = _variant(tmp_path, tiny_model, name, tensors, header)
    with pytest.raises(WeightsError) as info:
        DeepJSCC.from_weights(path)
    assert path.name in str(info.value) and message in str(info.value)
    result = runner.invoke(app, ["evaluate", str(path), "--limit", "1", "--snr", "0"])
    assert result.exit_code == 2 and path.name in result.output and "Traceback" not in result.output


def test_nan_weights_are_refused_not_written(tiny_model, tmp_path):
    path = _variant(tmp_path, tiny_model, "nan", lambda s: {k: torch.full_like(v, float("nan")) for k, v in s.items()})
    src = tmp_path / "x.png"
    save_image(torch.rand(3, 16, 16), src)
    result = runner.invoke(app, ["transmit", str(path), str(src), "-o", str(tmp_path / "o.png")])
    assert result.exit_code == 2 and "NaN" in result.output and not (tmp_path / "o.png").exists()
    result = runner.invoke(app, ["evaluate", str(path), "--limit", "2", "--snr", "0"])
    assert result.exit_code == 2 and "NaN" in result.output


# ----------------------------------------------------------------------------- options


@pytest.mark.parametrize("args, message", [
    (["--batch-size", "0"], "--batch-size must be at least 1"),
    (["--batch-size", "-1"], "--batch-size must be at least 1"),
    (["--limit", "0"], "--limit must be at least 1"),
    (["--limit", "-1"], "--limit must be at least 1"),
    (["--snr", "nan"], "finite"),
    (["--snr=-200"], "snr_db -200 is out of range"),
    (["--device", "foo"], "--device 'foo' is not a torch device"),
    (["--channel", "awgn", "--csi", "foo"], "csi must be"),
    (["--channel", "ricean"], "unknown channel"),
    (["--format", "xml"], "--format"),
])
def test_evaluate_option_errors(tiny_model, args, message):
    result = runner.invoke(app, ["evaluate", str(tiny_model), "--limit", "2", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output


def test_cuda_device_without_a_gpu(tiny_model):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    result = runner.invoke(app, ["evaluate", str(tiny_model), "--limit", "1", "--device", "cuda"])
    assert result.exit_code == 2 and "no CUDA GPU" in result.output


@pytest.mark.parametrize("args, message", [
    (["--steps", "-1"], "--steps must be >= 1"),
    (["--snr", "5,abc"], "cannot read the SNR"),
    (["--bcr", "abc"], "cannot read BCR"),
    (["--batch-size", "0"], "--batch-size must be >= 1"),
    (["--max-time", "soon"], "--max-time"),
    (["--channel", "rayleigh", "--lpips-net", "squeeze"], "--lpips-net"),
])
def test_train_option_errors(tmp_path, args, message):
    result = runner.invoke(app, ["train", "deepjscc", "--out", str(tmp_path / "run"), *args])
    assert result.exit_code == 2, result.output
    assert message in result.output and not (tmp_path / "run").exists()


def test_skip_bad_and_resize_small_exist_and_work(tiny_model, tmp_path):
    root = tmp_path / "data"
    (root / "test").mkdir(parents=True)
    (root / "train").mkdir()
    save_image(torch.rand(3, 32, 32), root / "test" / "good.png")
    save_image(torch.rand(3, 8, 8), root / "test" / "small.png")
    (root / "test" / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    base = ["evaluate", str(tiny_model), "--data", f"folder:{root}", "--size", "16", "--snr", "0", "--metrics", "psnr",
            "--format", "json"]
    result = runner.invoke(app, base)
    assert result.exit_code == 2 and "--skip-bad" in result.output and "bad.png" in result.output
    result = runner.invoke(app, [*base, "--skip-bad"])
    assert result.exit_code == 2 and "--resize-small" in result.output and "small.png (8x8)" in result.output
    result = runner.invoke(app, [*base, "--skip-bad", "--resize-small"])
    assert result.exit_code == 0, result.output
    [record] = json.loads(result.stdout[result.stdout.index("{"):])["results"]
    assert record["n"] == 2  # good.png and the upscaled small.png; bad.png skipped
