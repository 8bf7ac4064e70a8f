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
        ("evaluate",): ["--data", "--metrics", "--set", "--skip-bad", "--resize-small", "--format"],
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
    odd = tmp_path / "odd.png"
    save_image(torch.rand(3, 30, 40), odd)
    result = runner.invoke(app, ["transmit", str(tiny_model), str(odd), "-o", str(tmp_path / "o.png")])
    assert result.exit_code == 2 and "multiples of 8" in result.output
    src = tmp_path / "ok.png"
    save_image(torch.rand(3, 32, 32), src)
    result = runner.invoke(app, ["transmit", str(tiny_model), str(src), "-o", str(tmp_path / "o.png"), "--snr", "500"])
    assert result.exit_code == 2 and "dB" in result.output
    result = runner.invoke(app, ["transmit", "no-such-model", str(src), "-o", str(tmp_path / "o.png")])
    assert result.exit_code == 2 and "zoo name" in result.output
    assert not (tmp_path / "o.png").exists()


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
