"""Plots from records, comparison grids, and the resumable sweep."""

from __future__ import annotations

import json

import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from genjscc.cli import app
from genjscc.evaluation.records import Record, write_records

runner = CliRunner()


def _records(model, bcr, offset):
    return [Record("deepjscc", model, "photos", 64, bcr, "awgn", snr, metric, offset + snr / 10, 0.3, 93)
            for snr in (-5.0, 0.0, 5.0) for metric in ("psnr", "lpips-alex")]


def test_plot_reads_several_record_files(tmp_path):
    write_records(_records("a", "1/12", 20), tmp_path / "a.csv")
    write_records(_records("b", "1/48", 18), tmp_path / "b.json")
    for output in ("fig.png", "fig.pdf"):
        result = runner.invoke(app, ["plot", str(tmp_path / "a.csv"), str(tmp_path / "b.json"), "-o", str(tmp_path / output)])
        assert result.exit_code == 0, result.output
        assert "psnr vs snr, 2 models" in result.output
    with Image.open(tmp_path / "fig.png") as im:
        assert im.size[0] > 500 and im.size[1] > 300
    assert (tmp_path / "fig.pdf").read_bytes().startswith(b"%PDF")
    result = runner.invoke(app, ["plot", str(tmp_path / "a.csv"), "--x", "bcr", "--metric", "lpips-alex",
                                 "-o", str(tmp_path / "bcr.png")])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["plot", str(tmp_path / "a.csv"), "--metric", "fid", "-o", str(tmp_path / "x.png")])
    assert result.exit_code == 2 and "no records of metric 'fid'" in result.output and "psnr" in result.output


def test_grid_tiles_every_scheme_and_snr(tiny_model, tmp_path):
    result = runner.invoke(app, ["grid", str(tiny_model), str(tiny_model), "--snr", "-5,10", "-n", "2",
                                 "-o", str(tmp_path / "g.png")])
    assert result.exit_code == 0, result.output
    assert "2 schemes x 2 SNRs, 2 images per tile" in result.output
    with Image.open(tmp_path / "g.png") as im:
        assert im.size[0] > 400


def test_sweep_resumes_without_recomputing_finished_points(tiny_model, tmp_path, monkeypatch):
    import genjscc.evaluation.sweep as ev

    config = tmp_path / "sweep.yaml"
    config.write_text(f"schemes: [{tiny_model}, {{spec: separation, options: {{codec: webp, bcr: 1/12}}}}]\n"
                      "snr: [-5, 0, 5]\nchannels: [awgn]\nlimit: 2\nmetrics: [psnr]\n")
    store = tmp_path / "store.jsonl"
    calls = []
    real = ev.evaluate

    def counting(scheme, images, channel, snrs, **kw):
        calls.append((scheme.label, tuple(snrs)))
        if len(calls) == 4 and not kill.get("done"):
            kill["done"] = True
            raise KeyboardInterrupt  # as if the sweep were killed during its 4th point
        return real(scheme, images, channel, snrs, **kw)

    kill: dict = {}
    monkeypatch.setattr(ev, "evaluate", counting)
    with pytest.raises(KeyboardInterrupt):
        ev.run_sweep(__import__("yaml").safe_load(config.read_text()), store)
    assert len(store.read_text().splitlines()) == 3  # three points finished and stored
    calls.clear()
    result = runner.invoke(app, ["sweep", str(config), "--store", str(store), "--out", str(tmp_path / "all.json")])
    assert result.exit_code == 0, result.output
    assert len(calls) == 3  # only the 3 points not finished before the kill
    records = json.loads((tmp_path / "all.json").read_text())["results"]
    assert len(records) == 6 and {r["model"] for r in records} == {"tiny", "webp+capacity"}
    assert len(store.read_text().splitlines()) == 6
    calls.clear()
    assert runner.invoke(app, ["sweep", str(config), "--store", str(store)]).exit_code == 0
    assert calls == []  # everything finished: nothing recomputed


def test_sweep_config_errors(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("schemes: []\n")
    result = runner.invoke(app, ["sweep", str(bad)])
    assert result.exit_code == 2 and "needs a list of schemes" in result.output
    bad.write_text("schemes: [x]\nsnrs: [1]\n")
    result = runner.invoke(app, ["sweep", str(bad)])
    assert result.exit_code == 2 and "unknown sweep setting(s) ['snrs']" in result.output


def test_demo_writes_table_grid_and_plots_for_every_shipped_scheme(tmp_path):
    from genjscc.evaluation.records import read_records
    from genjscc.schemes import SCHEMES
    from genjscc.zoo import ZOO

    result = runner.invoke(app, ["demo", "--out", str(tmp_path), "--snr", "0,10"])
    assert result.exit_code == 0, result.output
    records = read_records(tmp_path / "results.csv")
    shipped = {name for name, entry in ZOO.items() if entry.kind in SCHEMES}
    assert {r.model for r in records} == shipped and {r.snr_db for r in records} == {0.0, 10.0}
    for name in ("grid.png", "psnr.png", "lpips.png"):
        with Image.open(tmp_path / name) as im:
            assert im.size[0] > 300
