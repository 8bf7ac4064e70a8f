"""``genjscc train deepjscc``, ``train stylegan2`` and ``train generative``: options come from the trainers'
argument dataclasses (:mod:`genjscc.train.args`); Lightning is imported only when a command runs."""

from __future__ import annotations

from pathlib import Path

from genjscc.cli.app import train_app
from genjscc.cli.options import training_command
from genjscc.train.args import DeepJSCCTrainArgs, GenerativeJSCCTrainArgs, StyleGAN2TrainArgs
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


def _train_generative(*args, **kwargs):
    from genjscc.train.generative import train_generative

    return train_generative(*args, **kwargs)


training_command(
    train_app, "generative", GenerativeJSCCTrainArgs, _train_generative, out=Path("runs/generative"),
    defaults={"steps": 2000, "checkpoint_every": 250}, resolve_model=resolve_model,
    help="Train a GenerativeJSCC (encoder + StyleGAN2-synthesis decoder) end to end through the channel with "
         "MSE + λ·LPIPS (optionally + a GAN term); exports RUN/model.safetensors.",
)
