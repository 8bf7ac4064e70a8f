"""Helpers shared by test modules in several folders (``tests/`` is on ``sys.path`` through its conftest)."""

from __future__ import annotations

import signal

import torch
from safetensors.torch import load_file

from genjscc.models.stylegan2 import Generator, GeneratorConfig
from genjscc.train.common import RunControl

TINY_PRIOR_CONFIG = dict(img_resolution=16, z_dim=32, w_dim=32, channel_base=256, channel_max=32, mapping_layers=2)


def tiny_generator(seed: int = 0) -> Generator:
    """A 16² generator whose images mostly stay in [-1, 1] and whose noise inputs matter.

    A freshly initialised G has toRGB outputs of std ~1 (a third of the pixels would be clipped
    by the [0, 1] observation), zero noise strengths and w_avg = 0; we scale the toRGB weights,
    give the noise a small strength and set w_avg to the mean w, as training would.
    """
    torch.manual_seed(seed)
    G = Generator(GeneratorConfig(img_resolution=16, z_dim=32, w_dim=32, channel_base=256, channel_max=32,
                                  mapping_layers=2))
    with torch.no_grad():
        for block in G.synthesis.blocks():
            block.torgb.weight.mul_(0.25)
            for layer in block.layers():
                layer.noise_strength.fill_(0.05)
        G.mapping.w_avg.copy_(G.mapping(torch.randn(2000, 32))[:, 0].mean(dim=0))
    return G


def stop_at(monkeypatch, iteration: int, how: str):
    """Make the run receive SIGINT during ``iteration`` (``how="sigint"``) or crash after it without a checkpoint."""
    original = RunControl.on_train_batch_end

    def hook(self, trainer, module, outputs, batch, batch_idx):
        if self.iterations + 1 == iteration:
            if how == "sigint":
                signal.raise_signal(signal.SIGINT)
            else:
                raise RuntimeError("simulated crash (as after SIGKILL: no checkpoint of this iteration)")
        original(self, trainer, module, outputs, batch, batch_idx)

    monkeypatch.setattr(RunControl, "on_train_batch_end", hook)


def same_weights(a, b) -> bool:
    wa, wb = load_file(a), load_file(b)
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
