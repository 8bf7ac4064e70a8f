"""``genjscc train deepjscc`` (other trainers register their own ``train`` sub-commands)."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import typer

from genjscc.cli.app import fail, train_app


def trainer_options(steps, devices, accelerator, strategy, precision, num_nodes, checkpoint_every, log_every, progress=True):
    from genjscc.train.common import TrainerOptions

    return TrainerOptions(
        max_steps=steps, devices=devices, accelerator=accelerator, strategy=strategy, precision=precision,
        num_nodes=num_nodes, checkpoint_every=checkpoint_every, log_every=log_every, progress=progress,
    )


def command_line() -> str:
    return "genjscc " + " ".join(shlex.quote(a) for a in sys.argv[1:])


@train_app.command("deepjscc")
def train_deepjscc_cmd(
    data: str = typer.Option("photos", help="photos | folder:PATH | cifar10:PATH"),
    size: int = typer.Option(64, help="training crop side"),
    bcr: str = typer.Option("1/48", help="bandwidth compression ratio k/n"),
    channel: str = typer.Option("awgn", help="awgn | rayleigh | fast-rayleigh"),
    snr: str = typer.Option("0", help="training SNR in dB, or a range LOW,HIGH drawn per image"),
    snr_range: str = typer.Option(None, "--snr-range", help="same as --snr LOW,HIGH"),
    snr_adaptive: bool = typer.Option(False, help="ADJSCC SNR-attention modules (one model for an SNR range)"),
    downsample: int = typer.Option(8, help="total encoder stride (8 reaches BCR 1/6 .. 1/384)"),
    filters: str = typer.Option("16,32,32,32", help="hidden widths of the 4 hidden layers"),
    steps: int = typer.Option(2000, help="optimiser steps"),
    batch_size: int = typer.Option(64),
    lr: float = typer.Option(1e-3),
    lpips_weight: float = typer.Option(0.0, help="λ in MSE + λ·LPIPS"),
    lpips_net: str = typer.Option("vgg", help="LPIPS backbone of the loss: vgg | alex"),
    seed: int = typer.Option(0),
    workers: int = typer.Option(0, help="data loader worker processes"),
    val_every: int = typer.Option(0, help="validate on held-out crops every N steps (0: never)"),
    init: str = typer.Option("", help="start from this model (zoo name or .safetensors; fine-tuning)"),
    out: Path = typer.Option(Path("runs/deepjscc"), help="run folder (checkpoints, logs, exported weights)"),
    resume: bool = typer.Option(False, help="continue the run in --out from its last checkpoint"),
    devices: str = typer.Option("auto", help="Lightning devices (e.g. 1, 4, 0,1)"),
    accelerator: str = typer.Option("auto", help="Lightning accelerator: auto | cpu | gpu"),
    strategy: str = typer.Option("auto", help="Lightning strategy (e.g. ddp)"),
    precision: str = typer.Option("32-true", help="Lightning precision (e.g. bf16-mixed)"),
    num_nodes: int = typer.Option(1),
    checkpoint_every: int = typer.Option(500, help="save a checkpoint every N steps"),
    log_every: int = typer.Option(50),
):
    """Train a DeepJSCC end to end through the channel (MSE, or MSE + λ·LPIPS)."""
    from genjscc.train.deepjscc import DeepJSCCTrainArgs, parse_snr_spec, train_deepjscc
    from genjscc.channel import bcr_to_channels

    snr_spec = snr_range or snr
    try:
        parse_snr_spec(snr_spec)
        bcr_to_channels(bcr, size, size, downsample)
    except ValueError as exc:
        raise fail(str(exc)) from None
    args = DeepJSCCTrainArgs(
        data=data, size=size, bcr=bcr, channel=channel, snr=snr_spec, downsample=downsample, filters=filters,
        snr_adaptive=snr_adaptive, batch_size=batch_size, lr=lr, lpips_weight=lpips_weight, lpips_net=lpips_net,
        seed=seed, workers=workers, val_every=val_every, init=init,
    )
    options = trainer_options(steps, devices, accelerator, strategy, precision, num_nodes, checkpoint_every, log_every)
    try:
        path = train_deepjscc(args, out, options, resume=resume, command=command_line())
    except (FileNotFoundError, FileExistsError, ValueError) as exc:
        raise fail(str(exc)) from None
    typer.echo(f"weights: {path}")
