"""Records never merge what differs (data, weights, options, seed, ...) and sweeps never reuse stale points."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
import yaml
from typer.testing import CliRunner

from genjscc.cli import app
from genjscc.evaluation.records import Record, read_records, records_markdown, write_records

runner = CliRunner()


def _curve(data: str, offset: float, **extra) -> list[Record]:
    return [Record("deepjscc", "m", data, 64, "1/12", "awgn", snr, "psnr", offset + snr / 10, 0.3, 93, **extra)
            for snr in (-5.0, 0.0, 5.0)]


def _plotted_lines(monkeypatch, records, **options) -> dict[str, list[float]]:
    """The labels and x values of the lines plot_records draws."""
    from matplotlib.axes import Axes

    from genjscc.evaluation.plots import plot_records

    drawn: dict[str, list[float]] = {}
    real = Axes.plot

    def spy(self, *args, **kwargs):
        drawn[kwargs.get("label")] = list(args[0])
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Axes, "plot", spy)
    plot_records(records, options.pop("path"), **options)
    return drawn


def test_plot_of_two_data_sets_draws_two_labelled_lines(tmp_path, monkeypatch):
    """Item 1: records that differ in data (or seed, or options) are two lines, labelled by what differs."""
    write_records(_curve("photos", 20), tmp_path / "photos.csv")
    write_records(_curve("deadleaves", 15), tmp_path / "deadleaves.csv")
    rows = read_records(tmp_path / "photos.csv") + read_records(tmp_path / "deadleaves.csv")
    lines = _plotted_lines(monkeypatch, rows, path=tmp_path / "p.png")
    assert set(lines) == {"m (data photos)", "m (data deadleaves)"}
    assert all(xs == [-5.0, 0.0, 5.0] for xs in lines.values())  # no line jumps between the sets
    seeds = _curve("photos", 20, seed=0) + _curve("photos", 19, seed=1)
    assert set(_plotted_lines(monkeypatch, seeds, path=tmp_path / "s.png")) == {"m (seed 0)", "m (seed 1)"}
    table = records_markdown(rows)
    assert "| m (data photos) |" in table and "| m (data deadleaves) |" in table and len(table.splitlines()) == 8


def test_old_record_files_still_read_with_defaults(tmp_path):
    """Committed records written before weights/options/seed existed read back with "", "" and 0."""
    old = tmp_path / "old.csv"
    old.write_text("scheme,model,data,size,bcr,channel,snr_db,metric,mean,ci95,n\n"
                   "deepjscc,a,photos,64,1/12,awgn,-5.0,psnr,22.4,0.5,93\n")
    (r,) = read_records(old)
    assert (r.model, r.weights, r.options, r.seed) == ("a", "", "", 0)
    committed = read_records("results/separation/records.csv")
    assert committed and all(r.weights == "" for r in committed)


def test_disagreeing_records_of_one_identity_are_refused(tmp_path):
    a, b = _curve("photos", 20), _curve("photos", 18)
    write_records(a, tmp_path / "a.csv")
    write_records(b, tmp_path / "b.csv")
    write_records(a, tmp_path / "a2.csv")
    figure = ["-o", str(tmp_path / "x.png")]
    result = runner.invoke(app, ["plot", str(tmp_path / "a.csv"), str(tmp_path / "b.csv"), *figure])
    assert result.exit_code == 2 and "disagree on psnr" in result.output
    result = runner.invoke(app, ["plot", str(tmp_path / "a.csv"), str(tmp_path / "a2.csv"), *figure])
    assert result.exit_code == 0, result.output  # the same records twice: drawn once


def _tiny_weights(path, seed: int):
    from genjscc.models.deepjscc import DeepJSCC, DeepJSCCConfig
    from genjscc.utils.weights import save_weights

    torch.manual_seed(seed)
    model = DeepJSCC(DeepJSCCConfig(channels=8, filters=(4, 4, 4, 4), snr_adaptive=True))
    return save_weights(path, model.state_dict(), {"kind": "deepjscc", "config": model.config.to_dict()})


def test_exported_runs_are_told_apart_by_run_name_and_content(tmp_path):
    """Item 2: two runs' RUN/model.safetensors are two models, not one called "model"."""
    outputs = []
    for run in ("run_a", "run_b"):
        weights = _tiny_weights(tmp_path / run / "model.safetensors", seed=len(outputs))
        out = tmp_path / f"{run}.csv"
        result = runner.invoke(app, ["evaluate", str(weights), "--data", "deadleaves", "--size", "16", "--limit", "2",
                                     "--snr", "0", "--metrics", "psnr", "--out", str(out)])
        assert result.exit_code == 0, result.output
        outputs += read_records(out)
    assert [r.model for r in outputs] == ["run_a", "run_b"]
    assert outputs[0].weights != outputs[1].weights and len(outputs[0].weights) == 12
    assert outputs[0].seed == 0 and outputs[0].options == ""


def test_model_label_prefers_the_name_in_the_metadata(tmp_path):
    from genjscc.utils.weights import model_label, save_weights

    named = save_weights(tmp_path / "r" / "model.safetensors", {"x": torch.zeros(1)},
                         {"kind": "deepjscc", "training": {"run_name": "my-run"}})
    assert model_label(named) == "my-run"
    renamed = shutil.copy(named, tmp_path / "r" / "best.safetensors")
    assert model_label(renamed) == "best"  # a file the user named keeps its name


def _sweep_config(tmp_path, scheme, **settings) -> "Path":  # noqa: F821
    config = tmp_path / "sweep.yaml"
    base = {"schemes": [str(scheme)], "snr": [0], "data": "deadleaves", "size": 16, "limit": 2, "metrics": ["psnr"]}
    config.write_text(yaml.safe_dump({**base, **settings}))
    return config


def test_sweep_recomputes_points_when_the_weights_change(tmp_path, monkeypatch):
    """Item 3: the store key holds the weights' content hash, not just their path (train --resume rewrites it)."""
    import genjscc.evaluation.sweep as ev

    weights = _tiny_weights(tmp_path / "run" / "model.safetensors", seed=0)
    config = _sweep_config(tmp_path, weights)
    calls = []
    real = ev.evaluate
    monkeypatch.setattr(ev, "evaluate", lambda *a, **k: calls.append(1) or real(*a, **k))
    store = tmp_path / "store.jsonl"
    first = ev.run_sweep(yaml.safe_load(config.read_text()), store)
    ev.run_sweep(yaml.safe_load(config.read_text()), store)
    assert len(calls) == 1  # unchanged weights: read back
    _tiny_weights(weights, seed=1)  # as a resumed run re-exports RUN/model.safetensors
    second = ev.run_sweep(yaml.safe_load(config.read_text()), store)
    assert len(calls) == 2
    assert first[0].weights != second[0].weights and first[0].mean != second[0].mean


@pytest.mark.parametrize("setting, value, expected", [
    ("snr", "10", [10.0]), ("snr", 0, [0.0]), ("metrics", "psnr", ["psnr"]),
])
def test_sweep_scalars_are_one_element_lists(tmp_path, tiny_model, setting, value, expected):
    """Item 4: a YAML scalar where a list is expected is that one value, never split into characters."""
    from genjscc.evaluation.sweep import sweep_points

    config = yaml.safe_load(_sweep_config(tmp_path, tiny_model, **{setting: value}).read_text())
    points, common = sweep_points(config)
    got = sorted({p.snr_db for p in points}) if setting == "snr" else common["metrics"]
    assert got == expected


def test_sweep_scheme_given_as_one_name(tmp_path, tiny_model):
    from genjscc.evaluation.sweep import sweep_points

    config = yaml.safe_load(_sweep_config(tmp_path, tiny_model).read_text())
    config["schemes"] = str(tiny_model)
    points, _ = sweep_points(config)
    assert [p.scheme for p in points] == [str(tiny_model)]


@pytest.mark.parametrize("setting", ["snr", "channels", "metrics"])
def test_sweep_empty_lists_are_errors(tmp_path, tiny_model, setting):
    """Item 5: an empty list is a clear error, not "0 records" or an empty finished point."""
    config = _sweep_config(tmp_path, tiny_model, **{setting: []})
    store = tmp_path / "store.jsonl"
    result = runner.invoke(app, ["sweep", str(config), "--store", str(store)])
    assert result.exit_code == 2 and f"sweep setting {setting} is an empty list" in result.output
    assert not store.exists()


def test_sweep_records_carry_their_identity(tmp_path):
    config = tmp_path / "sep.yaml"
    config.write_text("schemes: [{spec: separation, options: {codec: webp, bcr: 1/12}}]\nsnr: 5\ndata: deadleaves\n"
                      "size: 16\nlimit: 2\nmetrics: psnr\nseed: 3\n")
    out = tmp_path / "r.json"
    result = runner.invoke(app, ["sweep", str(config), "--store", str(tmp_path / "s.jsonl"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    (r,) = json.loads(out.read_text())["results"]
    assert json.loads(r["options"]) == {"bcr": "1/12", "codec": "webp"} and r["seed"] == 3 and r["weights"] == ""


def test_one_model_name_over_two_weight_files_is_two_labelled_lines(tmp_path, monkeypatch):
    """Item 2 in figures: records named alike but from other weights are told apart by their hash."""
    rows = _curve("photos", 20, weights="aaaaaaaaaaaa") + _curve("photos", 18, weights="bbbbbbbbbbbb")
    lines = _plotted_lines(monkeypatch, rows, path=tmp_path / "w.png")
    assert set(lines) == {"m (weights aaaaaaaaaaaa)", "m (weights bbbbbbbbbbbb)"}


def test_sweep_after_train_resume_evaluates_the_new_weights(tmp_path):
    """Done-when of issue 22: `train --resume --steps N` rewrites RUN/model.safetensors; the sweep recomputes."""
    run = tmp_path / "run"
    train = ["train", "deepjscc", "--size", "16", "--batch-size", "4", "--filters", "4,4,4,4", "--bcr", "1/12",
             "--accelerator", "cpu", "--devices", "1", "--no-progress", "--out", str(run)]
    assert runner.invoke(app, [*train, "--steps", "1"]).exit_code == 0
    config = _sweep_config(tmp_path, run / "model.safetensors")
    store = tmp_path / "store.jsonl"
    out = tmp_path / "r.json"
    sweep = ["sweep", str(config), "--store", str(store), "--out", str(out)]
    assert runner.invoke(app, sweep).exit_code == 0
    before = json.loads(out.read_text())["results"][0]
    assert before["model"] == "run"  # named after the run, not "model"
    assert runner.invoke(app, [*train, "--steps", "3", "--resume"]).exit_code == 0
    result = runner.invoke(app, sweep)
    assert result.exit_code == 0, result.output
    after = json.loads(out.read_text())["results"][0]
    assert after["weights"] != before["weights"] and after["mean"] != before["mean"]
    assert len(store.read_text().splitlines()) == 2  # the old point stays; the new weights got their own
