"""The training step never reads a device value back to the host (issue 13).

On a GPU every ``.item()``, ``int(tensor)``, ``bool(tensor)`` or ``float(tensor)`` makes the
host wait for the device, so a launch-bound StyleGAN2 step loses its overlap. All of them go
through ``aten::_local_scalar_dense``; a dispatch mode counts those calls, with the code that
made them, during training iterations that neither log nor checkpoint. The reads that are
allowed by design are on host tensors: the optimisers' step counters (``torch/optim``, kept
on the CPU by PyTorch) and the checks of host-drawn SNRs (``genjscc.channel._check_snr_values``,
which :func:`test_snr_values_are_checked_on_the_host` shows never touch a device tensor).
"""

from __future__ import annotations

import collections
import csv
import math
import traceback

import lightning as L
import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

import genjscc.train.common as common
from genjscc.channel import snr_tensor
from genjscc.train.args import DeepJSCCTrainArgs, StyleGAN2TrainArgs, TrainerOptions
from genjscc.train.common import IntervalMeans
from genjscc.train.deepjscc import train_deepjscc
from genjscc.train.stylegan2 import train_stylegan2

ALLOWED = ("/torch/optim/", "_check_snr_values")


class ScalarReads(TorchDispatchMode):
    """Counts ``aten::_local_scalar_dense`` calls while ``active``, keyed by the calling frames."""

    def __init__(self):
        super().__init__()
        self.active = False
        self.sites: collections.Counter = collections.Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if self.active and func is torch.ops.aten._local_scalar_dense.default:
            frames = traceback.extract_stack()[:-1]
            text = " <- ".join(f"{f.filename}:{f.name}:{f.lineno}" for f in frames[::-1][:6])
            if not any(a in text for a in ALLOWED):
                self.sites[text] += 1
        return func(*args, **(kwargs or {}))


class _Window(L.Callback):
    """Activates ``mode`` for training batches ``first``..``last`` (1-based)."""

    def __init__(self, mode: ScalarReads, first: int, last: int):
        self.mode, self.first, self.last, self.batch = mode, first, last, 0

    def on_train_batch_start(self, *args):
        self.batch += 1
        self.mode.active = self.first <= self.batch <= self.last

    def on_train_batch_end(self, *args):
        self.mode.active = False


@pytest.fixture
def scalar_reads(monkeypatch):
    mode = ScalarReads()
    make = common.make_trainer

    def with_window(run_dir, options, callbacks=None, val_every=None):
        return make(run_dir, options, callbacks=[*(callbacks or []), _Window(mode, 2, 5)], val_every=val_every)

    monkeypatch.setattr(common, "make_trainer", with_window)
    with mode:
        yield mode


def _options(steps: int, log_every: int = 100) -> TrainerOptions:
    return TrainerOptions(steps=steps, accelerator="cpu", devices="1", checkpoint_every=100, log_every=log_every,
                          progress=False)


def test_stylegan2_iterations_read_nothing_back(tmp_path, scalar_reads):
    # r1_every=2: iterations 2..5 include R1 steps and plain ones; style mixing always on
    args = StyleGAN2TrainArgs(size=16, batch_size=4, z_dim=16, w_dim=16, mapping_layers=1, channel_base=64,
                              channel_max=16, sample_every=0, r1_every=2, style_mixing=1.0, pool=16)
    train_stylegan2(args, tmp_path / "run", _options(6))
    assert not scalar_reads.sites, "host reads in the StyleGAN2 step:\n" + "\n".join(scalar_reads.sites)


def test_deepjscc_iterations_read_nothing_back(tmp_path, scalar_reads):
    args = DeepJSCCTrainArgs(data="photos", size=16, bcr="1/12", filters="4,4,4,4", batch_size=4, snr="-5,10",
                             snr_adaptive=True)
    train_deepjscc(args, tmp_path / "run", _options(6))
    assert not scalar_reads.sites, "host reads in the DeepJSCC step:\n" + "\n".join(scalar_reads.sites)


def test_snr_values_are_checked_on_the_host():
    # a host tensor or number is checked, then copied: reading a 'meta' tensor back would raise
    assert snr_tensor(torch.tensor([1.0, 2.0]), 2, "meta").device.type == "meta"
    assert snr_tensor(3, 4, "meta").shape == (4,)
    with pytest.raises(ValueError, match="finite"):
        snr_tensor(torch.tensor([1.0, math.nan]), 2, "meta")
    with pytest.raises(ValueError, match="out of range"):
        snr_tensor(1000.0, 2, "meta")
    # a tensor already on the target device is still checked (one read-back, as before)
    with pytest.raises(ValueError, match="finite"):
        snr_tensor(torch.tensor([math.inf]), 1, "cpu")


def test_interval_means_average_between_reads():
    meter = IntervalMeans()
    meter.add({"a": torch.tensor(1.0), "r1": torch.tensor(10.0)})
    meter.add({"a": torch.tensor(3.0)})
    means = meter.pop()
    assert means["a"].item() == 2.0 and means["r1"].item() == 10.0  # r1 averaged over the steps that had it
    meter.add({"a": torch.tensor(5.0)})
    assert meter.pop() == {"a": torch.tensor(5.0)} and meter.pop() == {}


def test_logs_are_interval_means_every_log_every(tmp_path):
    args = DeepJSCCTrainArgs(data="photos", size=16, bcr="1/12", filters="4,4,4,4", batch_size=4, snr="0")
    train_deepjscc(args, tmp_path / "run", _options(6, log_every=3))
    with open(tmp_path / "run" / "logs" / "metrics.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r.get("train/loss")]
    assert [int(r["step"]) for r in rows] == [2, 5]  # Lightning's 0-based step of iterations 3 and 6
    assert all(0 < float(r["train/loss"]) < 1 and 0 < float(r["train/psnr"]) < 60 for r in rows)


def test_pool_batches_are_one_index_operation_on_the_pools_device():
    from torch.utils.data import DataLoader

    from genjscc.data import StreamSampler, TensorPool, pass_batch

    images = torch.randint(0, 256, (10, 3, 4, 4), dtype=torch.uint8)
    sampler = StreamSampler(10, seed=3, start_iteration=0, batch_size=4)
    loader = DataLoader(TensorPool(images), batch_size=4, sampler=sampler, drop_last=True, collate_fn=pass_batch)
    batch = next(iter(loader))
    stream = iter(StreamSampler(10, seed=3, start_iteration=0, batch_size=4))
    order = [next(stream) for _ in range(4)]
    assert torch.equal(batch, images[order])  # the same stream as item-by-item loading
    # a pool moved to a device stays there: 'meta' would fail on any copy back to the host
    meta = DataLoader(TensorPool(images).to("meta"), batch_size=4, sampler=sampler, drop_last=True,
                      collate_fn=pass_batch)
    batch = next(iter(meta))
    assert batch.device.type == "meta" and batch.shape == (4, 3, 4, 4)
