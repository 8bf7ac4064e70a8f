"""The channel registry through the commands: evaluate, sweep, plot and train take channel specs."""

import json

from typer.testing import CliRunner

from genjscc.cli import app

runner = CliRunner()


def test_evaluate_over_ofdm_and_an_impaired_channel(tiny_model):
    for spec, name in (("ofdm-tdl-c:estimator=ls,speed=30", "ofdm-tdl-c(est=ls"),
                       ("clip:level_db=3+rician:k_db=6", "clip(3dB)+rician(K=6dB")):
        result = runner.invoke(app, ["evaluate", str(tiny_model), "--size", "32", "--limit", "3", "--snr", "0,10",
                                     "--metrics", "psnr", "--channel", spec, "--format", "json"])
        assert result.exit_code == 0, result.output
        rows = json.loads(result.stdout)["results"]
        assert len(rows) == 2 and all(r["channel"].startswith(name) for r in rows), rows


def test_a_bad_channel_spec_is_one_clear_error(tiny_model):
    result = runner.invoke(app, ["evaluate", str(tiny_model), "--size", "32", "--limit", "2",
                                 "--channel", "ofdm-tdl-c:speed=fast"])
    assert result.exit_code == 2 and "option speed needs a float" in result.output
    result = runner.invoke(app, ["train", "deepjscc", "--channel", "ofdm-tdl-x", "--out", "never-written"])
    assert result.exit_code == 2 and "unknown channel 'ofdm-tdl-x'" in result.output


def test_sweep_and_plot_over_a_channel_spec(tiny_model, tmp_path):
    config = tmp_path / "sweep.yaml"
    config.write_text(f"schemes: [{tiny_model}]\nsnr: [0, 10]\n"
                      "channels: [awgn, 'ofdm-tdl-a:estimator=perfect']\nlimit: 2\nsize: 32\nmetrics: [psnr]\n")
    out = tmp_path / "all.json"
    result = runner.invoke(app, ["sweep", str(config), "--store", str(tmp_path / "s.jsonl"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    records = json.loads(out.read_text())["results"]
    assert {r["channel"].split("(")[0] for r in records} == {"awgn", "ofdm-tdl-a"} and len(records) == 4
    result = runner.invoke(app, ["plot", str(out), "-o", str(tmp_path / "p.png")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "p.png").stat().st_size > 1000
