import csv
import json
import subprocess
import sys

import pytest
import torch
from typer.testing import CliRunner

from genjscc.cli import app
from genjscc.data import load_image, save_image

runner = CliRunner()


def test_help_of_every_command():
    """Each command's help shows its own options (not only an exit code)."""
    expected = {
        (): ["transmit", "evaluate", "train", "demo", "sample", "fid"],
        ("transmit",): ["--snr", "--channel", "--csi", "--set", "--config", "-o"],
        ("evaluate",): ["--data", "--metrics", "--set", "--skip-bad", "--resize-small", "--format", "native"],
        ("train", "deepjscc"): ["--bcr", "--snr", "--steps", "--checkpoint-every", "--resume", "--strategy"],
        ("train", "stylegan2"): ["--discriminator", "--kid-every", "--max-time", "--resume"],
        ("zoo", "list"): ["List the shipped models"],
        ("demo",): ["--out", "--snr"],
        ("sample",): ["--truncation", "-n"],
        ("fid",): ["--kid", "--save-stats"],
    }
    for args, words in expected.items():
        result = runner.invoke(app, [*args, "--help"], env={"COLUMNS": "250", "TERMINAL_WIDTH": "250"})
        assert result.exit_code == 0, result.output
        for word in words:
            assert word in result.output, (args, word)


def test_console_entry_point_runs():
    out = subprocess.run([sys.executable, "-m", "genjscc", "--help"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "evaluate" in out.stdout


def test_transmit_writes_image(tiny_model, tmp_path):
    src = tmp_path / "in.png"
    save_image(torch.rand(3, 48, 40), src)
    result = runner.invoke(app, ["transmit", str(tiny_model), str(src), "-o", str(tmp_path / "out.png"), "--snr", "5", "--channel", "rayleigh"])
    assert result.exit_code == 0, result.output
    assert load_image(tmp_path / "out.png").shape == (3, 48, 40)
    assert "BCR 1/48" in result.output


def test_transmit_errors_are_clear(tiny_model, tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_text("nope")
    result = runner.invoke(app, ["transmit", str(tiny_model), str(bad), "-o", str(tmp_path / "o.png")])
    assert result.exit_code == 2 and "cannot read image" in result.output
    src = tmp_path / "ok.png"
    save_image(torch.rand(3, 32, 32), src)
    result = runner.invoke(app, ["transmit", str(tiny_model), str(src), "-o", str(tmp_path / "o.png"), "--snr", "500"])
    assert result.exit_code == 2 and "dB" in result.output
    result = runner.invoke(app, ["transmit", "no-such-model", str(src), "-o", str(tmp_path / "o.png")])
    assert result.exit_code == 2 and "zoo name" in result.output
    assert not (tmp_path / "o.png").exists()


def test_transmit_sends_a_451x300_photo_whole_and_prints_its_psnr(tmp_path):
    """chelsea (451x300, sides not multiples of 8) through the shipped DeepJSCC: a 451x300 file, the BCR of the
    padded latent k/(3HW) and a PSNR line that matches the file written."""
    import re

    from PIL import Image

    from genjscc.data import photo_images
    from genjscc.metrics import psnr

    src, out = tmp_path / "chelsea.png", tmp_path / "received.png"
    save_image(photo_images("test")[0].float() / 255, src)
    result = runner.invoke(app, ["transmit", "deepjscc-64-bcr1_12", str(src), "-o", str(out), "--snr", "10"])
    assert result.exit_code == 0, result.output
    with Image.open(out) as im:
        assert im.size == (451, 300)
    line = result.output.strip()
    assert line.startswith(f"{out}: 451x300, BCR 0.0854 = 34,656 channel uses / 405,900 values, awgn 10 dB, PSNR ")
    printed = float(re.search(r"PSNR (\d+\.\d+) dB$", line).group(1))
    written = psnr(load_image(out).unsqueeze(0), load_image(src).unsqueeze(0)).item()
    assert 22 < printed < 40 and abs(printed - written) < 0.05  # the file is the reconstruction, rounded to 8 bits


def test_transmit_odd_sizes_with_a_tiny_model(tiny_model, tmp_path):
    for h, w in ((30, 40), (5, 3)):  # padded to 32x40 (reflect) and 8x8 (repeated edge), cropped back
        src, out = tmp_path / f"{h}x{w}.png", tmp_path / f"out-{h}x{w}.png"
        save_image(torch.rand(3, h, w), src)
        result = runner.invoke(app, ["transmit", str(tiny_model), str(src), "-o", str(out)])
        assert result.exit_code == 0, result.output
        assert load_image(out).shape == (3, h, w) and f": {w}x{h}, BCR " in result.output


def test_grid_of_whole_images_and_its_refusal_by_a_fixed_size_scheme(tiny_model, tiny_prior, tmp_path, monkeypatch):
    import genjscc.evaluation.plots as plots

    drawn = []
    monkeypatch.setattr(plots, "comparison_grid", lambda originals, rows, snrs, path, **kw: drawn.append(
        (originals, rows, kw)) or path.write_bytes(b"x"))
    result = runner.invoke(app, ["grid", str(tiny_model), "--size", "native", "--snr", "0", "-o", str(tmp_path / "g.png")])
    assert result.exit_code == 0, result.output
    (originals, rows, kw), = drawn
    assert [tuple(o.shape[1:]) for o in originals] == [(300, 451), (400, 600), (427, 640)]
    assert [tuple(t.shape) for t in rows[0][1][0]] == [tuple(o.shape) for o in originals]
    assert "downscaled" in kw["note"] and "451x300" in kw["note"]
    inverse = ["inverse", "--set", f"jscc={tiny_model}", "--set", f"prior={tiny_prior}"]
    result = runner.invoke(app, ["grid", *inverse, "--size", "native", "-o", str(tmp_path / "h.png")])
    assert result.exit_code == 2 and "takes only 16x16 inputs" in result.output and "use --size 16" in result.output


def test_evaluate_json_on_stdout_and_csv_file(tiny_model, tmp_path):
    out = tmp_path / "r.csv"
    result = runner.invoke(
        app,
        ["evaluate", str(tiny_model), "--size", "32", "--limit", "6", "--snr", "-5,10", "--metrics", "psnr,ssim",
         "--format", "json", "--out", str(out)],
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    rows = doc["results"]
    assert {r["metric"] for r in rows} == {"psnr", "ssim"} and {r["snr_db"] for r in rows} == {-5.0, 10.0}
    assert all(r["n"] == 6 and r["bcr"] == "1/48" and r["scheme"] == "deepjscc" for r in rows)
    assert set(doc["fields"]) >= {"scheme", "model", "data", "size", "bcr", "channel", "snr_db", "metric", "mean", "ci95", "n"}
    with open(out) as fh:
        assert len(list(csv.DictReader(fh))) == 4


def test_evaluate_is_reproducible_and_table(tiny_model):
    args = ["evaluate", str(tiny_model), "--size", "32", "--limit", "4", "--snr", "0", "--metrics", "psnr", "--format", "csv"]
    a, b = runner.invoke(app, args), runner.invoke(app, args)
    assert a.exit_code == 0 and a.stdout == b.stdout
    table = runner.invoke(app, args[:-2])
    assert table.exit_code == 0 and "psnr" in table.output


def test_evaluate_rejects_bad_input(tiny_model):
    result = runner.invoke(app, ["evaluate", str(tiny_model), "--snr", "a,b"])
    assert result.exit_code == 2 and "SNR" in result.output
    result = runner.invoke(app, ["evaluate", str(tiny_model), "--size", "32", "--metrics", "psnr,nope", "--limit", "2"])
    assert result.exit_code == 2 and "unknown metric" in result.output


def test_zoo_list_shows_table_names():
    from genjscc.zoo import ZOO

    result = runner.invoke(app, ["zoo", "list"], terminal_width=200)
    assert result.exit_code == 0
    for name in ZOO:
        assert name in result.output


def test_train_rejects_unreachable_bcr(tmp_path):
    result = runner.invoke(app, ["train", "deepjscc", "--bcr", "1/50", "--out", str(tmp_path / "r")])
    assert result.exit_code == 2 and "nearest achievable" in result.output
