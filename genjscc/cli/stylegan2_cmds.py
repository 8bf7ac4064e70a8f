"""``genjscc sample`` and ``genjscc convert-stylegan2`` (training: :mod:`genjscc.cli.train`)."""

from __future__ import annotations

from pathlib import Path

import typer

from genjscc.cli.app import app, fail


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

    from genjscc.utils.images import image_grid, save_image
    from genjscc.models.stylegan2 import StyleGAN2FormatError, UnsafePickleError, load_stylegan2
    from genjscc.utils.weights import WeightsError
    from genjscc.zoo import resolve_model

    from genjscc.cli.checks import check_at_least, check_device, check_output, image_suffixes

    check_device(device)
    check_at_least("-n", n)
    check_output(output, "-o", suffixes=image_suffixes())
    try:
        G = load_stylegan2(resolve_model(model), device=device)
    except (FileNotFoundError, StyleGAN2FormatError, UnsafePickleError, WeightsError) as exc:
        raise fail(str(exc)) from None
    z = torch.randn(n, G.z_dim, generator=torch.Generator().manual_seed(seed)).to(device)
    with torch.no_grad():
        images = ((G(z, truncation_psi=truncation, noise_mode=noise_mode) + 1) / 2).clamp(0, 1)
    try:
        save_image(image_grid(images.cpu()), output)
    except ValueError as exc:
        raise fail(f"-o {output}: {exc}") from None
    except OSError as exc:
        raise fail(f"-o {output}: cannot write: {exc.strerror or exc}") from None
    typer.echo(f"wrote {output} ({n} samples, {G.img_resolution}x{G.img_resolution}, truncation {truncation})")


@app.command("convert-stylegan2")
def convert_stylegan2(
    source: Path = typer.Argument(..., help="NVlabs .pkl (read without running its code) or rosinality .pt"),
    output: Path = typer.Argument(..., help="the .safetensors file to write (+ .json and .md beside it)"),
):
    """Convert an official StyleGAN2 generator to the project's safetensors format."""
    from genjscc.models.stylegan2 import StyleGAN2FormatError, UnsafePickleError, load_generator_state, load_stylegan2
    from genjscc.cli.checks import check_output
    from genjscc.utils.weights import save_weights

    check_output(output, "output", inputs=(source,), suffixes=(".safetensors",))
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
