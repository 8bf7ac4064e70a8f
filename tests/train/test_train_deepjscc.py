import json

import pytest
import torch
from safetensors.torch import load_file

from genjscc.train.args import TrainerOptions
from genjscc.train.args import DeepJSCCTrainArgs, parse_snr_spec
from genjscc.train.deepjscc import train_deepjscc

TINY = dict(data="photos", size=16, bcr="1/12", filters="4,4,4,4", batch_size=4, snr="-5,10", snr_adaptive=True)


def _options(steps):
    return TrainerOptions(steps=steps, accelerator="cpu", devices="1", checkpoint_every=2, log_every=1, progress=False)


def test_parse_snr_spec():
    assert parse_snr_spec("3") == (3.0, 3.0)
    assert parse_snr_spec("-5,10") == (-5.0, 10.0)
    with pytest.raises(ValueError, match="LOW,HIGH"):
        parse_snr_spec("10,-5")


def test_tiny_training_is_seeded_and_resumes(tmp_path):
    args = DeepJSCCTrainArgs(**TINY)
    a = train_deepjscc(args, tmp_path / "a", _options(3))
    b = train_deepjscc(args, tmp_path / "b", _options(3))
    wa, wb = load_file(a), load_file(b)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)  # same seed, same weights

    meta = json.loads(a.with_suffix(".json").read_text())
    assert meta["training"]["steps"] == 3 and meta["training"]["seed"] == 0
    assert meta["config"]["channels"] == 32  # 1/12 at f=8 -> C = 384/12

    # resume the same run to 6 steps: it continues from the checkpoint, not from scratch
    resumed = train_deepjscc(args, tmp_path / "a", _options(6), resume=True)
    meta = json.loads(resumed.with_suffix(".json").read_text())
    assert meta["training"]["steps"] == 6
    wr = load_file(resumed)
    assert any(not torch.equal(wa[k], wr[k]) for k in wa)
    assert (tmp_path / "a" / "checkpoints" / "last.ckpt").exists()
    assert not list((tmp_path / "a").rglob("*.part"))


def test_refuses_to_overwrite_and_resume_without_checkpoint(tmp_path):
    args = DeepJSCCTrainArgs(**TINY)
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        train_deepjscc(args, tmp_path / "r", _options(1), resume=True)
    train_deepjscc(args, tmp_path / "r", _options(2))
    with pytest.raises(FileExistsError, match="--resume"):
        train_deepjscc(args, tmp_path / "r", _options(2))


def test_training_reduces_loss(tmp_path):
    """A few dozen steps must beat the untrained network on held-out crops (learning happens)."""
    from genjscc.channel import AWGN
    from genjscc.data import load_dataset, stack
    from genjscc.metrics import psnr
    from genjscc.schemes import build_scheme

    args = DeepJSCCTrainArgs(**{**TINY, "snr": "10", "snr_adaptive": False, "batch_size": 16, "lr": 3e-3})
    first = train_deepjscc(args, tmp_path / "short", _options(1))
    longer = train_deepjscc(args, tmp_path / "long", _options(150))
    images = stack(load_dataset("photos", "test", 16, limit=32))
    scores = []
    for path in (first, longer):
        g = torch.Generator().manual_seed(0)
        scores.append(psnr(build_scheme(str(path)).transmit(images, AWGN(), 10.0, generator=g).images, images).mean().item())
    assert scores[1] > scores[0] + 1.5


def test_init_fine_tunes_from_given_weights(tmp_path):
    args = DeepJSCCTrainArgs(**TINY)
    base = train_deepjscc(args, tmp_path / "base", _options(2))
    tuned = train_deepjscc(DeepJSCCTrainArgs(**{**TINY, "init": str(base), "lr": 1e-12}), tmp_path / "tuned", _options(1))
    wb, wt = load_file(base), load_file(tuned)
    assert all(torch.allclose(wb[k], wt[k], atol=1e-6) for k in wb)
    with pytest.raises(ValueError, match="BCR"):
        train_deepjscc(DeepJSCCTrainArgs(**{**TINY, "bcr": "1/48", "init": str(base)}), tmp_path / "bad", _options(1))
