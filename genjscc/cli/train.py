"""``genjscc train deepjscc``, ``train stylegan2`` and ``train generative``: options come from the trainers'
argument dataclasses (:mod:`genjscc.train.args`).

The argument dataclasses import the models (and so torch), Lightning the trainers: a training
command is built only when it runs or shows its own ``--help`` (:class:`genjscc.cli.app.LazyGroup`),
so ``genjscc --help`` and ``genjscc train --help`` import neither.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import typer

from genjscc.cli.app import TrainCommands
from genjscc.cli.options import training_command
from genjscc.zoo import resolve_model


def _train_deepjscc(*args, **kwargs):
    from genjscc.train.deepjscc import train_deepjscc

    return train_deepjscc(*args, **kwargs)


def _train_stylegan2(*args, **kwargs):
    from genjscc.train.stylegan2 import train_stylegan2

    return train_stylegan2(*args, **kwargs)


def _train_generative(*args, **kwargs):
    from genjscc.train.generative import train_generative

    return train_generative(*args, **kwargs)


def _lazy_training_command(name: str, args_name: str, train: Callable, *, help: str, out: Path, defaults: dict) -> None:
    """Register ``genjscc train NAME`` (see :func:`genjscc.cli.options.training_command`) to be built on first use;
    ``args_name`` names its argument dataclass in :mod:`genjscc.train.args`."""

    def build():
        from genjscc.train import args

        single = typer.Typer(add_completion=False)
        training_command(single, name, getattr(args, args_name), train, out=out, defaults=defaults,
                         resolve_model=resolve_model, help=help)
        return typer.main.get_command(single)

    TrainCommands.lazy_command(name, help, build)


_lazy_training_command(
    "deepjscc", "DeepJSCCTrainArgs", _train_deepjscc, out=Path("runs/deepjscc"),
    defaults={"steps": 2000, "checkpoint_every": 500},
    help="Train a DeepJSCC end to end through the channel (MSE, or MSE + λ·LPIPS); exports RUN/model.safetensors.",
)
_lazy_training_command(
    "stylegan2", "StyleGAN2TrainArgs", _train_stylegan2, out=Path("runs/stylegan2"),
    defaults={"steps": 10_000, "checkpoint_every": 1000},
    help="Train a StyleGAN2 (logistic loss, lazy R1, EMA, DiffAugment); exports RUN/model.safetensors (EMA generator).",
)
_lazy_training_command(
    "generative", "GenerativeJSCCTrainArgs", _train_generative, out=Path("runs/generative"),
    defaults={"steps": 2000, "checkpoint_every": 250},
    help="Train a GenerativeJSCC (encoder + StyleGAN2-synthesis decoder) end to end through the channel with "
         "MSE + λ·LPIPS (optionally + a GAN term); exports RUN/model.safetensors.",
)
