"""``genjscc train stylegan2``, ``genjscc sample``, ``genjscc convert-stylegan2``."""

from __future__ import annotations

from pathlib import Path

import typer

from genjscc.cli.app import app, fail, train_app


@train_app.command("stylegan2")
def train_stylegan2_cmd(
    data: str = typer.Option("photos", help="photos | folder:PATH | cifar10:PATH"),
    size: int = typer.Option(64, help="image side (power of two)"),
    batch_size: int = typer.Option(32),
    steps: int = typer.Option(10_000, help="iterations (one D and one G step each); --max-time may stop earlier"),
    max_time: str = typer.Option("", help="wall-clock limit of this session: DD:HH:MM:SS, HH:MM:SS or seconds"),
    z_dim: int = typer.Option(256),
    w_dim: int = typer.Option(256),
    mapping_layers: int = typer.Option(4),
    mapping_lr_multiplier: float = typer.Option(0.01, help="equalised-lr multiplier of the mapping network"),
    channel_base: int = typer.Option(8192, help="channels at resolution r: min(channel_base // r, channel_max)"),
    channel_max: int = typer.Option(128),
    lr: float = typer.Option(0.0025, help="Adam lr of G and D (betas 0, 0.99)"),
    r1_gamma: float = typer.Option(0.05, help="R1 weight gamma (0: off)"),
    r1_every: int = typer.Option(16, help="lazy R1 interval in D steps"),
    ema_kimg: float = typer.Option(5.0, help="EMA half-life of the generator in thousands of images"),
    augment: str = typer.Option("color,translation,cutout", help="DiffAugment policy ('' for none)"),
    style_mixing: float = typer.Option(0.9, help="style-mixing probability"),
    discriminator: str = typer.Option("plain", help="plain (StyleGAN2 residual D on pixels) | projected-alex "
                                      "(trainable heads on frozen ImageNet AlexNet features, Projected-GAN style)"),
    pool: int = typer.Option(0, help="draw batches from a fixed pool of this many crops (fast on GPU); 0: stream crops"),
    seed: int = typer.Option(0),
    workers: int = typer.Option(0, help="data loader worker processes"),
    sample_every: int = typer.Option(500, help="iterations between sample grids in RUN/samples (0: never)"),
    kid_every: int = typer.Option(0, help="iterations between KID evaluations (RUN/kid.jsonl; 0: only at the end)"),
    kid_images: int = typer.Option(0, help="generated images per KID evaluation (0: no KID)"),
    out: Path = typer.Option(Path("runs/stylegan2"), help="run folder (checkpoints, logs, samples, exported weights)"),
    resume: bool = typer.Option(False, help="continue the run in --out from its last checkpoint"),
    devices: str = typer.Option("auto", help="Lightning devices (e.g. 1, 4, 0,1)"),
    accelerator: str = typer.Option("auto", help="Lightning accelerator: auto | cpu | gpu"),
    strategy: str = typer.Option("auto", help="Lightning strategy (e.g. ddp)"),
    precision: str = typer.Option("32-true", help="Lightning precision (32-true is the checked setting)"),
    num_nodes: int = typer.Option(1),
    checkpoint_every: int = typer.Option(1000, help="save a checkpoint every N iterations"),
    log_every: int = typer.Option(50),
):
    """Train a StyleGAN2 (logistic loss, lazy R1, EMA, DiffAugment); exports RUN/model.safetensors."""
    from genjscc.cli.train import command_line, trainer_options
    from genjscc.models.projected_discriminator import DISCRIMINATORS
    from genjscc.train.stylegan2 import StyleGAN2TrainArgs, parse_duration, train_stylegan2

    if size < 8 or size & (size - 1):
        raise fail(f"--size must be a power of two >= 8, got {size}")
    try:
        parse_duration(max_time)
    except ValueError:
        raise fail(f"cannot read --max-time {max_time!r}: use DD:HH:MM:SS, HH:MM:SS, MM:SS or seconds") from None
    if discriminator not in DISCRIMINATORS:
        raise fail(f"--discriminator must be one of {', '.join(DISCRIMINATORS)}, got {discriminator!r}")
    args = StyleGAN2TrainArgs(
        data=data, size=size, batch_size=batch_size, z_dim=z_dim, w_dim=w_dim, mapping_layers=mapping_layers,
        mapping_lr_multiplier=mapping_lr_multiplier, channel_base=channel_base, channel_max=channel_max, lr=lr,
        r1_gamma=r1_gamma, r1_every=r1_every, ema_kimg=ema_kimg, augment=augment, style_mixing=style_mixing, pool=pool,
        seed=seed, workers=workers, sample_every=sample_every, kid_every=kid_every, kid_images=kid_images, max_time=max_time,
        discriminator=discriminator,
    )
    options = trainer_options(steps, devices, accelerator, strategy, precision, num_nodes, checkpoint_every, log_every)
    try:
        path = train_stylegan2(args, out, options, resume=resume, command=command_line())
    except (FileNotFoundError, FileExistsError, ValueError) as exc:
        raise fail(str(exc)) from None
    typer.echo(f"weights: {path}")


@app.command()
def sample(
    model: str = typer.Argument(..., help="zoo name, our .safetensors, rosinality .pt or NVlabs .pkl"),
    n: int = typer.Option(16, "-n", help="number of images"),
    output: Path = typer.Option(Path("samples.png"), "-o", "--output", help="grid image to write"),
    truncation: float = typer.Option(1.0, help="truncation psi (1: none; 0.7 is a common choice)"),
    seed: int = typer.Option(0),
    noise_mode: str = typer.Option("const", help="const | random | none"),
    device: str = typer.Option("cpu"),
):
    """Draw N samples from a StyleGAN2 generator into one grid image."""
    import torch

    from genjscc.data import save_image
    from genjscc.models.stylegan2_loaders import StyleGAN2FormatError, UnsafePickleError, load_stylegan2
    from genjscc.train.stylegan2 import image_grid
    from genjscc.weights import WeightsError

    try:
        G = load_stylegan2(model, device=device)
    except (FileNotFoundError, StyleGAN2FormatError, UnsafePickleError, WeightsError) as exc:
        raise fail(str(exc)) from None
    z = torch.randn(n, G.z_dim, generator=torch.Generator().manual_seed(seed)).to(device)
    with torch.no_grad():
        images = ((G(z, truncation_psi=truncation, noise_mode=noise_mode) + 1) / 2).clamp(0, 1)
    save_image(image_grid(images.cpu()), output)
    typer.echo(f"wrote {output} ({n} samples, {G.img_resolution}x{G.img_resolution}, truncation {truncation})")


@app.command("convert-stylegan2")
def convert_stylegan2(
    source: Path = typer.Argument(..., help="NVlabs .pkl (read without running its code) or rosinality .pt"),
    output: Path = typer.Argument(..., help="the .safetensors file to write (+ .json and .md beside it)"),
):
    """Convert an official StyleGAN2 generator to the project's safetensors format."""
    from genjscc.models.stylegan2_loaders import StyleGAN2FormatError, UnsafePickleError, load_generator_state, load_stylegan2
    from genjscc.weights import save_weights

    try:
        _, _, info = load_generator_state(source)
        G = load_stylegan2(source)
    except (FileNotFoundError, StyleGAN2FormatError, UnsafePickleError) as exc:
        raise fail(str(exc)) from None
    meta = {"kind": "stylegan2", "config": G.config.to_dict(), "converted_from": {"file": source.name, **info}}
    card = (f"# StyleGAN2 (converted)\n\n- Source: `{source.name}` ({info.get('source')})\n"
            f"- {G.img_resolution}x{G.img_resolution}, z/w {G.z_dim}/{G.w_dim}, {sum(p.numel() for p in G.parameters())} parameters\n"
            "- Data, training and licence: those of the source file.\n")
    path = save_weights(output, G.state_dict(), meta, card=card)
    typer.echo(f"wrote {path}")
