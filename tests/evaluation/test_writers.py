"""One clean error path for every writer: outputs, configs and options checked before any work, with
one-line errors that name the option and the fix (issue 22, items 6-12)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
import torch
import yaml
from typer.testing import CliRunner

from genjscc.cli import app
from genjscc.utils.images import save_image
from genjscc.evaluation.records import Record, write_records

runner = CliRunner()


@pytest.fixture
def no_computation(monkeypatch):
    """Fail the test if any scheme sends an image: the error must come before the work."""
    import genjscc.evaluation.evaluate as ev
    import genjscc.evaluation.sweep as sweep

    def refuse(*args, **kwargs):
        raise AssertionError("computed before the output was checked")

    monkeypatch.setattr(ev, "transmit_checked", refuse)
    monkeypatch.setattr(ev, "evaluate", refuse)
    monkeypatch.setattr(sweep, "evaluate", refuse)


def _sweep_yaml(tmp_path, schemes, **settings):
    config = tmp_path / "sweep.yaml"
    config.write_text(yaml.safe_dump({"schemes": schemes, "snr": [0, 5], "data": "deadleaves", "size": 16, "limit": 2,
                                      "metrics": ["psnr"], **settings}))
    return config


def _records(tmp_path):
    path = tmp_path / "r.csv"
    write_records([Record("deepjscc", "m", "photos", 64, "1/12", "awgn", 0.0, "psnr", 20.0, 0.3, 93)], path)
    return path


# ----------------------------------------------------------------------------- item 6: outputs and configs


@pytest.mark.parametrize("case", ["proc", "under-a-file", "store-folder"])
def test_sweep_outputs_are_checked_before_any_point(tiny_model, tmp_path, no_computation, case):
    config = _sweep_yaml(tmp_path, [str(tiny_model)])
    (tmp_path / "file.png").write_bytes(b"x")
    args = {"proc": ["--out", "/proc/x.csv"], "under-a-file": ["--out", str(tmp_path / "file.png" / "r.csv")],
            "store-folder": ["--store", str(tmp_path)]}[case]
    if case != "store-folder":
        args += ["--store", str(tmp_path / "s.jsonl")]
    result = runner.invoke(app, ["sweep", str(config), *args])
    expected = {"proc": "cannot write in /proc", "under-a-file": "is a file, not a folder",
                "store-folder": "is a folder"}[case]
    assert result.exit_code == 2 and expected in result.output, result.output
    assert not (tmp_path / "s.jsonl").exists()


def test_sweep_store_of_the_wrong_shape_is_refused(tiny_model, tmp_path, no_computation):
    store = tmp_path / "records.jsonl"
    store.write_text(json.dumps({"results": []}) + "\n")
    before = store.read_text()
    result = runner.invoke(app, ["sweep", str(_sweep_yaml(tmp_path, [str(tiny_model)])), "--store", str(store)])
    assert result.exit_code == 2 and "line 1 is not a sweep store entry" in result.output
    assert store.read_text() == before  # nothing appended to a file that is not a store


def test_a_bad_later_scheme_fails_before_the_first_point(tiny_model, tmp_path):
    config = _sweep_yaml(tmp_path, [str(tiny_model), {"spec": "separation", "options": {"codec": "webp", "bcr": "1/12",
                                                                                           "mcs": 3}}])
    config.write_text(config.read_text().replace("mcs: 3", "colour: red"))
    store = tmp_path / "s.jsonl"
    result = runner.invoke(app, ["sweep", str(config), "--store", str(store)])
    assert result.exit_code == 2 and "has no option colour" in result.output
    assert not store.exists() or store.read_text() == ""  # the first scheme's points did not run


@pytest.mark.parametrize("command", ["plot", "grid-proc", "grid-txt", "evaluate-txt", "transmit-txt"])
def test_every_writer_checks_its_output_first(tiny_model, tmp_path, no_computation, command):
    image = tmp_path / "in.png"
    save_image(torch.rand(3, 16, 16), image)
    args, expected = {
        "plot": (["plot", str(_records(tmp_path)), "-o", "/proc/p.png"], "cannot write in /proc"),
        "grid-proc": (["grid", str(tiny_model), "-o", "/proc/g.png", "--size", "16", "-n", "1"],
                      "cannot write in /proc"),
        "grid-txt": (["grid", str(tiny_model), "-o", str(tmp_path / "g.txt"), "--size", "16", "-n", "1"],
                     "write a .png, .pdf or .svg file"),
        "evaluate-txt": (["evaluate", str(tiny_model), "--data", "deadleaves", "--size", "16", "--limit", "1",
                          "--out", str(tmp_path / "x.txt")], "write a .csv or .json file"),
        "transmit-txt": (["transmit", str(tiny_model), str(image), "-o", str(tmp_path / "y.txt")], "y.txt: write a"),
    }[command]
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and expected in result.output, result.output
    assert not list(tmp_path.glob("[gxy].*")) and result.output.count("\n") == 1  # one line, nothing written


def test_binary_config_and_meta_device_are_one_line_errors(tiny_model, tmp_path):
    binary = tmp_path / "options.yaml"
    binary.write_bytes(bytes(range(256)))
    image = tmp_path / "in.png"
    save_image(torch.rand(3, 16, 16), image)
    result = runner.invoke(app, ["transmit", str(tiny_model), str(image), "-o", str(tmp_path / "o.png"),
                                 "--config", str(binary)])
    assert result.exit_code == 2 and "--config: cannot read" in result.output
    result = runner.invoke(app, ["sweep", str(binary)])
    assert result.exit_code == 2 and "cannot read" in result.output
    result = runner.invoke(app, ["transmit", str(tiny_model), str(image), "-o", str(tmp_path / "o.png"),
                                 "--device", "meta"])
    assert result.exit_code == 2 and "--device meta" in result.output and "cpu, cuda or mps" in result.output


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a CUDA GPU")
def test_train_on_a_missing_gpu_is_an_error_without_a_run_folder(tmp_path):
    out = tmp_path / "run"
    result = runner.invoke(app, ["train", "deepjscc", "--size", "16", "--batch-size", "4", "--filters", "4,4,4,4",
                                 "--steps", "1", "--accelerator", "gpu", "--out", str(out)])
    assert result.exit_code == 2 and "--accelerator gpu: no CUDA GPU" in result.output
    assert not out.exists()  # no stray run.json


def test_train_out_that_cannot_be_written(tmp_path):
    result = runner.invoke(app, ["train", "deepjscc", "--out", "/proc/run"])
    assert result.exit_code == 2 and "cannot write in /proc" in result.output


# ----------------------------------------------------------------------------- item 7


def test_separation_on_a_folder_with_an_empty_train_split(tmp_path):
    (tmp_path / "d" / "train").mkdir(parents=True)
    (tmp_path / "d" / "test").mkdir()
    for i in range(2):
        save_image(torch.rand(3, 16, 16), tmp_path / "d" / "test" / f"{i}.png")
    result = runner.invoke(app, ["evaluate", "separation", "--data", f"folder:{tmp_path / 'd'}", "--size", "16",
                                 "--set", "codec=webp", "--set", "bcr=1/12", "--snr", "5", "--metrics", "psnr"])
    assert result.exit_code == 2 and "train holds no images" in result.output, result.output


# ----------------------------------------------------------------------------- item 8


def test_grid_gives_each_scheme_its_options(tiny_model, tmp_path):
    out = tmp_path / "g.png"
    result = runner.invoke(app, ["grid", str(tiny_model), "separation", "--set", "codec=webp", "--set", "bcr=1/12",
                                 "--size", "16", "-n", "1", "--snr", "10", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "2 schemes x 1 SNRs" in result.output and out.exists()
    result = runner.invoke(app, ["grid", str(tiny_model), "--set", "codec=webp", "-o", str(out)])
    assert result.exit_code == 2 and "codec: none of the schemes" in result.output


def test_transmit_inverse_does_not_suggest_a_size_option(tiny_model, tiny_prior, tmp_path):
    image = tmp_path / "in.png"
    save_image(torch.rand(3, 32, 32), image)
    result = runner.invoke(app, ["transmit", "inverse", str(image), "-o", str(tmp_path / "o.png"),
                                 "--set", f"jscc={tiny_model}", "--set", f"prior={tiny_prior}"])
    assert result.exit_code == 2 and "16x16" in result.output and "--size" not in result.output, result.output


# ----------------------------------------------------------------------------- item 9


@pytest.mark.parametrize("psi", ["nan", "inf", "-1", "5", ""])
def test_prior_truncation_must_be_in_the_unit_interval(tiny_prior, psi):
    from genjscc.data import DataError, load_dataset

    with pytest.raises(DataError, match=r"truncation|after '@'") as info:
        load_dataset(f"prior:{tiny_prior}@{psi}", "test", 16, limit=1)
    assert "corrupt" not in str(info.value)


def test_one_prior_data_set_has_one_label(tiny_prior):
    from genjscc.data import test_spec

    labels = {test_spec(f"prior:{tiny_prior}{tail}") for tail in ("", "@0.7", "@0.70")}
    assert labels == {f"prior:{tiny_prior}@0.7"}
    assert test_spec("photos+deadleaves@0.3") == "photos"  # a mix tests on its first part


# ----------------------------------------------------------------------------- item 10


@pytest.mark.parametrize("option, message", [("lr=abc", "scheme option lr takes a number"),
                                             ("seed=abc", "scheme option seed takes a whole number"),
                                             ("radii=abc", "radii must be numbers")])
def test_scheme_option_values_name_the_option(tiny_model, tiny_prior, tmp_path, option, message):
    image = tmp_path / "in.png"
    save_image(torch.rand(3, 16, 16), image)
    result = runner.invoke(app, ["transmit", "inverse", str(image), "-o", str(tmp_path / "o.png"), "--set",
                                 f"jscc={tiny_model}", "--set", f"prior={tiny_prior}", "--set", option])
    assert result.exit_code == 2 and message in result.output, result.output


def test_set_takes_a_yaml_list(tiny_model, tiny_prior):
    from genjscc.cli.options import parse_set_options
    from genjscc.schemes import build_scheme

    options = parse_set_options(["steps=[3,2]", f"jscc={tiny_model}", f"prior={tiny_prior}"], None)
    assert build_scheme("inverse", **options).settings.steps == (3, 2)


def test_sweep_batch_size_zero_is_named(tiny_model, tmp_path):
    result = runner.invoke(app, ["sweep", str(_sweep_yaml(tmp_path, [str(tiny_model)], batch_size=0)),
                                 "--store", str(tmp_path / "s.jsonl")])
    assert result.exit_code == 2 and "batch_size must be a whole number of at least 1" in result.output


# ----------------------------------------------------------------------------- item 11


def test_plot_filters_match_as_written_and_say_what_is_there(tmp_path, monkeypatch):
    from matplotlib.axes import Axes

    rows = [Record("deepjscc", "m", "photos", 64, "1/12", "rayleigh(csi=mmse)", s, "psnr", 20 + s, 0.5, 93)
            for s in (0.0, 5.0)]
    path = tmp_path / "r.csv"
    write_records(rows + [Record("deepjscc", "single", "photos", 64, "1/48", "awgn", 0.0, "psnr", 18.0, 0.4, 93)], path)
    result = runner.invoke(app, ["plot", str(path), "--channel", "rayleigh", "--bcr", "2/24",
                                 "-o", str(tmp_path / "a.png")])
    assert result.exit_code == 0 and "1 models" in result.output, result.output
    result = runner.invoke(app, ["plot", str(path), "--models", "nope", "-o", str(tmp_path / "b.png")])
    assert result.exit_code == 2 and "--models nope matches no record" in result.output and "m, single" in result.output
    bars = []
    real = Axes.errorbar
    monkeypatch.setattr(Axes, "errorbar",
                        lambda self, x, y, **k: bars.append((list(x), k["yerr"])) or real(self, x, y, **k))
    result = runner.invoke(app, ["plot", str(path), "--models", "single", "-o", str(tmp_path / "c.png")])
    assert result.exit_code == 0 and bars == [([0.0], [0.4])]  # a single point shows its interval


# ----------------------------------------------------------------------------- item 12


def test_version_and_data_help():
    from genjscc import __version__

    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"genjscc {__version__}"
    help_text = runner.invoke(app, ["evaluate", "--help"], env={"COLUMNS": "300", "TERMINAL_WIDTH": "300"}).output
    assert "deadleaves" in help_text and "prior:NAME" in help_text and "A+B" in help_text


TRAIN = ["train", "deepjscc", "--size", "16", "--batch-size", "4", "--filters", "4,4,4,4", "--bcr", "1/12",
         "--accelerator", "cpu", "--devices", "1", "--no-progress", "--checkpoint-every", "1"]


def test_resume_with_fewer_steps_than_done_is_an_error(tmp_path):
    from genjscc.utils.weights import model_label

    out = tmp_path / "run"
    assert runner.invoke(app, [*TRAIN, "--steps", "3", "--out", str(out), "--name", "tiny-run"]).exit_code == 0
    assert model_label(out / "model.safetensors") == "tiny-run"  # --name, stored in the weights' metadata
    result = runner.invoke(app, [*TRAIN, "--steps", "2", "--out", str(out), "--resume"])
    assert result.exit_code == 2 and "at iteration 3 already" in result.output and "--steps above 3" in result.output


def test_a_killed_session_stays_in_run_json(tmp_path, monkeypatch):
    from genjscc.train.args import DeepJSCCTrainArgs, TrainerOptions
    from genjscc.train.common import RunControl
    from genjscc.train.deepjscc import train_deepjscc

    args = DeepJSCCTrainArgs(size=16, batch_size=4, filters="4,4,4,4", bcr="1/12")
    options = TrainerOptions(steps=4, accelerator="cpu", devices="1", checkpoint_every=1, progress=False)
    original = RunControl.on_train_batch_end

    def die(self, trainer, *rest):
        original(self, trainer, *rest)
        if self.iterations == 2:
            raise SystemExit("as if killed with -9: nothing after this runs")

    with monkeypatch.context() as m:
        m.setattr(RunControl, "on_train_batch_end", die)
        with pytest.raises(SystemExit):
            train_deepjscc(args, tmp_path / "run", options)
    sessions = json.loads((tmp_path / "run" / "run.json").read_text())["sessions"]
    assert len(sessions) == 1 and sessions[0]["status"] == "running"
    train_deepjscc(args, tmp_path / "run", options, resume=True)
    sessions = json.loads((tmp_path / "run" / "run.json").read_text())["sessions"]
    assert [s["status"].split(" ")[0] for s in sessions] == ["killed", "finished"]
    assert sessions[1]["from_iteration"] == 2


def test_two_sweeps_on_one_store_share_the_work(tiny_model, tmp_path, monkeypatch):
    """A point another sweep holds is not computed again: it is read back once that sweep has stored it."""
    import genjscc.evaluation.sweep as ev
    from genjscc.utils.weights import content_hash

    config = yaml.safe_load(_sweep_yaml(tmp_path, [str(tiny_model)]).read_text())
    points, common = ev.sweep_points(config)
    key = points[0].key(common, content_hash([tiny_model]))
    store = tmp_path / "s.jsonl"
    ready = tmp_path / "holding"
    record = Record("deepjscc", "tiny", "deadleaves", 16, "1/48", "awgn", 0.0, "psnr", 99.0, 0.0, 2)
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import fcntl, hashlib, json, pathlib, time
        key = {key!r}
        offset = int(hashlib.sha256(key.encode()).hexdigest()[:8], 16)
        with open({str(store)!r}, "a") as fh:
            fcntl.lockf(fh, fcntl.LOCK_EX, 1, offset)
            pathlib.Path({str(ready)!r}).touch()
            time.sleep(2)  # "computing" the point
            fh.write(json.dumps({{"key": key, "records": [{json.dumps(record.__dict__)}]}}) + "\\n")
            fh.flush()
    """)])
    try:
        for _ in range(600):
            if ready.exists():
                break
            __import__("time").sleep(0.05)
        calls = []
        real = ev.evaluate
        monkeypatch.setattr(ev, "evaluate", lambda *a, **k: calls.append(a[3]) or real(*a, **k))
        records = ev.run_sweep(config, store)
    finally:
        holder.wait(timeout=60)
    assert calls == [[5.0]]  # only the point the other sweep did not hold
    assert [r.mean for r in records][0] == 99.0  # the other sweep's result, read back
