"""Resume continues the same run: killed or interrupted at any iteration, then ``--resume``,
gives the weights of an uninterrupted run, bit for bit on CPU."""

from __future__ import annotations

import csv
import json

import pytest
import torch
from typer.testing import CliRunner

from genjscc.cli import app
from genjscc.train.args import DeepJSCCTrainArgs, StyleGAN2TrainArgs, TrainerOptions
from genjscc.train.common import TrainingInterrupted
from genjscc.train.deepjscc import train_deepjscc
from genjscc.train.stylegan2 import train_stylegan2
from genjscc.train.generative import train_generative
from genjscc.train.args import GenerativeJSCCTrainArgs
from support import same_weights, stop_at

DEEPJSCC = dict(size=16, batch_size=4, filters="4,4,4,4", bcr="1/12", snr="-5,10", snr_adaptive=True, lpips_weight=0.0)
STYLEGAN2 = dict(size=16, batch_size=4, z_dim=16, w_dim=16, mapping_layers=1, channel_base=64, channel_max=16,
                 sample_every=0, r1_every=2, pool=32)


def _options(steps: int, every: int = 2) -> TrainerOptions:
    return TrainerOptions(steps=steps, accelerator="cpu", devices="1", checkpoint_every=every, log_every=1, progress=False)


@pytest.mark.parametrize("how, stop", [("sigint", 3), ("crash", 4)])
def test_deepjscc_resume_equals_uninterrupted(tmp_path, monkeypatch, how, stop):
    args = DeepJSCCTrainArgs(**DEEPJSCC)
    reference = train_deepjscc(args, tmp_path / "reference", _options(7))
    with monkeypatch.context() as m:
        stop_at(m, stop, how)
        with pytest.raises(TrainingInterrupted if how == "sigint" else RuntimeError):
            train_deepjscc(args, tmp_path / "run", _options(7))
    assert not (tmp_path / "run" / "model.safetensors").exists()  # nothing exported from a stopped run
    resumed = train_deepjscc(args, tmp_path / "run", _options(7), resume=True)
    assert same_weights(reference, resumed)
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    done = stop if how == "sigint" else 2  # a crash loses the iterations after the last periodic checkpoint
    assert record["sessions"][-1]["iterations"] == 7 - done


@pytest.mark.parametrize("layout", ["current", "buffers"])
def test_stylegan2_resume_equals_uninterrupted(tmp_path, monkeypatch, layout):
    """``buffers``: a checkpoint as written before the host counters, with the iteration and image counts as
    state_dict buffers; resuming it continues both counts (the EMA ramp reads the images seen)."""
    args = StyleGAN2TrainArgs(**STYLEGAN2)
    reference = train_stylegan2(args, tmp_path / "reference", _options(5))
    with monkeypatch.context() as m:
        stop_at(m, 3, "sigint")
        with pytest.raises(TrainingInterrupted, match="iteration 3 of 5"):
            train_stylegan2(args, tmp_path / "run", _options(5))
    if layout == "buffers":
        path = tmp_path / "run" / "checkpoints" / "last.ckpt"
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
        for key in ("iteration", "images_seen"):
            ckpt["state_dict"][key.replace("iteration", "iterations")] = torch.tensor(ckpt.pop(key))
        torch.save(ckpt, path)
    resumed = train_stylegan2(args, tmp_path / "run", _options(5), resume=True)
    assert same_weights(reference, resumed)
    meta = json.loads(resumed.with_suffix(".json").read_text())["training"]
    assert meta["iterations"] == 5 and meta["images_seen"] == 20


def test_generative_resume_equals_uninterrupted(tmp_path, monkeypatch, tiny_prior):
    """Through the frozen warm-up and into fine-tuning, with the adversarial term on."""
    args = GenerativeJSCCTrainArgs(prior=str(tiny_prior), data=f"prior:{tiny_prior}", size=16, bcr="1/12", downsample=4,
                                   width=32, blocks=1, inject_resolution=8, lpips_weight=0.0, batch_size=4,
                                   freeze_synthesis=2, adversarial_weight=0.1, sample_every=0)
    reference = train_generative(args, tmp_path / "reference", _options(5))
    with monkeypatch.context() as m:
        stop_at(m, 3, "sigint")
        with pytest.raises(TrainingInterrupted, match="iteration 3 of 5"):
            train_generative(args, tmp_path / "run", _options(5))
    resumed = train_generative(args, tmp_path / "run", _options(5), resume=True)
    assert same_weights(reference, resumed)


def test_logs_are_appended_on_resume(tmp_path, monkeypatch):
    args = DeepJSCCTrainArgs(**DEEPJSCC)
    with monkeypatch.context() as m:
        stop_at(m, 3, "sigint")
        with pytest.raises(TrainingInterrupted):
            train_deepjscc(args, tmp_path / "run", _options(6))
    train_deepjscc(args, tmp_path / "run", _options(6), resume=True)
    rows = list(csv.DictReader((tmp_path / "run" / "logs" / "metrics.csv").open()))
    steps = sorted({int(r["step"]) for r in rows if r.get("train/loss")})
    assert steps == [0, 1, 2, 3, 4, 5]  # the first session's rows are still there


def test_cli_resume_refuses_changed_model_arguments_and_fills_the_rest(tmp_path):
    out = tmp_path / "run"
    base = ["train", "deepjscc", "--size", "16", "--batch-size", "4", "--filters", "4,4,4,4", "--bcr", "1/12",
            "--accelerator", "cpu", "--devices", "1", "--no-progress", "--out", str(out)]
    result = CliRunner().invoke(app, [*base, "--steps", "2"])
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(app, [*base, "--steps", "3", "--bcr", "1/48", "--lr", "0.01", "--resume"])
    assert result.exit_code == 2
    assert "--bcr 1/12" in result.output and "--bcr 1/48" in result.output and "--lr 0.01" in result.output
    # only --out, --resume and a new --steps: the recorded arguments (BCR 1/12, size 16, ...) are used
    result = CliRunner().invoke(app, ["train", "deepjscc", "--out", str(out), "--resume", "--steps", "3",
                                      "--accelerator", "cpu", "--devices", "1", "--no-progress"])
    assert result.exit_code == 0, result.output
    meta = json.loads((out / "model.json").read_text())
    assert meta["training"]["steps"] == 3 and meta["training"]["bcr"] == "1/12" and meta["training"]["size"] == 16
    assert len(meta["training"]["commands"]) == 2  # one command line per session


def test_failed_setup_leaves_no_run_folder(tmp_path):
    result = CliRunner().invoke(app, ["train", "deepjscc", "--data", f"folder:{tmp_path / 'missing'}",
                                      "--out", str(tmp_path / "run")])
    assert result.exit_code == 2 and "image folder not found" in result.output
    assert not (tmp_path / "run").exists()


def test_stream_sampler_gives_each_process_its_part_of_the_global_batch(monkeypatch):
    import itertools

    import torch.distributed as dist

    from genjscc.data import StreamSampler

    def take(sampler, n):
        return list(itertools.islice(iter(sampler), n))

    assert sorted(take(StreamSampler(50, seed=1, batch_size=5), 50)) == list(range(50))  # an epoch is a permutation
    single = take(StreamSampler(50, seed=1, start_iteration=3, batch_size=8), 16)  # iterations 3 and 4
    parts = []
    for rank in (0, 1):
        monkeypatch.setattr(dist, "is_initialized", lambda: True)
        monkeypatch.setattr(dist, "get_world_size", lambda: 2)
        monkeypatch.setattr(dist, "get_rank", lambda rank=rank: rank)
        parts.append(take(StreamSampler(50, seed=1, start_iteration=3, batch_size=4), 8))
    # iteration t: rank 0 takes the first half of the single process's batch, rank 1 the second
    assert parts[0][:4] + parts[1][:4] == single[:8] and parts[0][4:] + parts[1][4:] == single[8:]


@pytest.mark.slow
def test_two_process_ddp_trains_and_resumes(tmp_path):
    """Lightning DDP on CPU (gloo), 2 processes: the stream sampler is not wrapped, each process takes its half."""
    import os
    import subprocess
    import sys

    out = tmp_path / "ddp"
    base = [sys.executable, "-m", "genjscc", "train", "deepjscc", "--size", "16", "--batch-size", "4", "--filters",
            "4,4,4,4", "--bcr", "1/12", "--checkpoint-every", "2", "--strategy", "ddp", "--devices", "2",
            "--accelerator", "cpu", "--no-progress", "--out", str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for extra in (["--steps", "3"], ["--steps", "5", "--resume"]):
        done = subprocess.run([*base, *extra], capture_output=True, text=True, timeout=300, env=env)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    meta = json.loads((out / "model.json").read_text())["training"]
    assert meta["world_size"] == 2 and meta["steps"] == 5 and meta["images_seen"] == 5 * 4 * 2


@pytest.mark.slow
def test_two_process_ddp_matches_one_process_at_the_same_global_batch(tmp_path):
    """2 processes x batch 4 == 1 process x batch 8 (same seed), up to the per-process channel noise.

    Tolerance: each process draws its own noise (40 dB: variance 1e-4 per symbol) and gloo sums
    in its own order, so the weights are not bitwise equal; after 3 Adam steps their mean
    absolute difference is ~5e-6. A single process with batch 4 (half the data) differs from
    batch 8 by ~1.3e-4, so the bound 2e-5 separates "same gradient" from "different data".
    """
    import os
    import subprocess
    import sys

    from safetensors.torch import load_file

    base = [sys.executable, "-m", "genjscc", "train", "deepjscc", "--size", "16", "--filters", "4,4,4,4", "--bcr",
            "1/12", "--snr", "40", "--steps", "3", "--accelerator", "cpu", "--no-progress"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    runs = {"one_b8": ["--batch-size", "8", "--devices", "1"],
            "ddp_b4": ["--batch-size", "4", "--devices", "2", "--strategy", "ddp"],
            "one_b4": ["--batch-size", "4", "--devices", "1"]}
    weights = {}
    for name, extra in runs.items():
        done = subprocess.run([*base, *extra, "--out", str(tmp_path / name)], capture_output=True, text=True,
                              timeout=300, env=env)
        assert done.returncode == 0, done.stderr[-3000:]
        weights[name] = load_file(tmp_path / name / "model.safetensors")

    def mean_abs(a, b):
        return sum((a[k] - b[k]).abs().sum().item() for k in a) / sum(v.numel() for v in a.values())

    assert mean_abs(weights["ddp_b4"], weights["one_b8"]) < 2e-5
    assert mean_abs(weights["one_b4"], weights["one_b8"]) > 5e-5
