"""``genjscc train deepjscc`` and ``genjscc train stylegan2``: options come from the trainers'
argument dataclasses (:mod:`genjscc.train.args`); Lightning is imported only when a command runs."""

from __future__ import annotations

from pathlib import Path

from genjscc.cli.app import train_app
from genjscc.cli.options import training_command
from genjscc.train.args import DeepJSCCTrainArgs, StyleGAN2TrainArgs
from genjscc.zoo import resolve_model


def _train_deepjscc(*args, **kwargs):
    from genjscc.train.deepjscc import train_deepjscc

    return train_deepjscc(*args, **kwargs)


def _train_stylegan2(*args, **kwargs):
    from genjscc.train.stylegan2 import train_stylegan2

    return train_stylegan2(*args, **kwargs)


training_command(
    train_app, "deepjscc", DeepJSCCTrainArgs, _train_deepjscc, out=Path("runs/deepjscc"),
    defaults={"steps": 2000, "checkpoint_every": 500}, resolve_model=resolve_model,
    help="Train a DeepJSCC end to end through the channel (MSE, or MSE + λ·LPIPS); exports RUN/model.safetensors.",
)
training_command(
    train_app, "stylegan2", StyleGAN2TrainArgs, _train_stylegan2, out=Path("runs/stylegan2"),
    defaults={"steps": 10_000, "checkpoint_every": 1000}, resolve_model=resolve_model,
    help="Train a StyleGAN2 (logistic loss, lazy R1, EMA, DiffAugment); exports RUN/model.safetensors (EMA generator).",
)
