"""Commands: transmit, evaluate, zoo list, demo."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from genjscc.cli.app import app, fail, zoo_app
from genjscc.cli.checks import (
    RECORD_SUFFIXES,
    SIZE_HELP,
    check_at_least,
    check_device,
    check_output,
    check_output_folder,
    image_suffixes,
)
from genjscc.cli.options import CONFIG_HELP, SET_HELP, parse_set_options
from genjscc.train.args import DATA_HELP

DEMO_GRID_IMAGES = 4  # held-out crops per tile of demo/grid.png

SNR_HELP = "SNR in dB (complex AWGN: noise variance P/10^(SNR/10) per symbol)"
CHANNEL_HELP = (
    "channel spec [STAGE[:k=v,..]+]NAME[:k=v,..]: awgn | rayleigh | fast-rayleigh | rician | ofdm-tdl-a..e | "
    "ofdm-cdl-a..e; stages clip, phase-noise; e.g. ofdm-tdl-c:estimator=ls,speed=30 (README 'OFDM')"
)


def parse_size_option(text: str, option: str = "--size"):
    """``--size``: a side S in pixels (int) or ``"native"``; anything else exits 2 naming the option."""
    from genjscc.data.native import parse_size

    try:
        return parse_size(text, option)
    except ValueError as exc:
        raise fail(str(exc)) from None


def parse_snr_list(text: str) -> list[float]:
    from genjscc.channel import snr_tensor

    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise fail(f"cannot read SNR list {text!r}: write dB values separated by commas, e.g. -5,0,5,10") from None
    if not values:
        raise fail("give at least one SNR")
    try:
        snr_tensor(values, len(values))
    except ValueError as exc:
        raise fail(f"--snr: {exc}") from None
    return values


def open_channel(name: str, csi: str):
    from genjscc.channel.registry import build_channel

    try:
        return build_channel(name, csi=csi)
    except ValueError as exc:
        raise fail(str(exc)) from None


def open_scheme(model: str, device: str, options: dict, data: str):
    """Build the scheme; options that follow the evaluated data (separation's ``training_data``) default to
    ``data`` unless given. Errors exit 2."""
    from genjscc.schemes import build_scheme_for_data

    try:
        scheme = build_scheme_for_data(model, data, options).to(device)
    except (FileNotFoundError, ValueError, TypeError) as exc:
        raise fail(str(exc)) from None
    return scheme


@app.command()
def transmit(
    model: str = typer.Argument(..., help="zoo name, .safetensors path, or a scheme kind (e.g. separation)"),
    image: Path = typer.Argument(..., help="input image (any format Pillow reads)"),
    output: Path = typer.Option(..., "-o", "--output", help="where to write the reconstruction"),
    snr: float = typer.Option(0.0, help=SNR_HELP),
    channel: str = typer.Option("awgn", help=CHANNEL_HELP),
    csi: str = typer.Option("mmse", help="receiver CSI for fading: mmse | zf | none"),
    seed: int = typer.Option(0, help="seed of the channel noise"),
    device: str = typer.Option("cpu", help="torch device"),
    set_: Optional[list[str]] = typer.Option(None, "--set", help=SET_HELP),
    config: Optional[Path] = typer.Option(None, "--config", help=CONFIG_HELP),
):
    """Send one image through MODEL over the channel, whole and at its own size, and save what arrives.

    Networks pad the sides to their stride and crop back; the BCR printed is k/(3HW) on the true pixels."""
    import torch

    from genjscc.evaluation.evaluate import transmit_checked
    from genjscc.metrics import psnr
    from genjscc.utils.images import DataError, ImageSizeError, load_image, save_image

    check_device(device)
    parse_snr_list(str(snr))
    check_output(output, "-o", inputs=(image,), suffixes=image_suffixes())
    link = open_channel(channel, csi)
    try:
        x = load_image(image).unsqueeze(0)
    except DataError as exc:
        raise fail(str(exc)) from None
    scheme = open_scheme(model, device, parse_set_options(set_, config), "photos")
    try:
        scheme.check_size(x.shape[-2], x.shape[-1])
        g = torch.Generator(device=scheme.device).manual_seed(seed)
        y = transmit_checked(scheme, x.to(scheme.device), link, snr, generator=g).images.cpu()
    except ImageSizeError as exc:  # the scheme's advice is evaluate's --size; transmit sends the image as it is
        raise fail(f"{exc.problem}: resize the image to {exc.side}x{exc.side} (transmit sends it at its own size)"
                   f"{exc.alternative}") from None
    except ValueError as exc:
        raise fail(str(exc)) from None
    try:
        save_image(y[0], output)
    except ValueError as exc:
        raise fail(f"-o {output}: {exc}") from None
    except OSError as exc:
        raise fail(f"-o {output}: cannot write: {exc.strerror or exc}") from None
    height, width = x.shape[-2:]
    typer.echo(f"{output}: {width}x{height}, BCR {bcr_words(scheme.bcr(height, width), height, width)}, "
               f"{link.describe()} {snr:g} dB, PSNR {psnr(y, x).item():.2f} dB")


def bcr_words(bcr, height: int, width: int) -> str:
    """A BCR for people: ``1/48``; or, where padding to the network's stride makes it an unwieldy fraction,
    ``0.0854 = 34,656 channel uses / 405,900 values`` (3 H W); ``-`` when the scheme has none."""
    if bcr is None:
        return "-"
    if bcr.denominator <= 1000:
        return str(bcr)
    values = 3 * height * width
    uses = bcr * values
    count = f"{int(uses):,}" if uses.denominator == 1 else f"{float(uses):,.1f}"
    return f"{float(bcr):.4f} = {count} channel uses / {values:,} values"


@app.command()
def evaluate(
    model: str = typer.Argument(..., help="zoo name, .safetensors path, or a scheme kind (e.g. separation)"),
    data: str = typer.Option("photos", help=DATA_HELP),
    size: str = typer.Option("64", help="test images: " + SIZE_HELP),
    snr: str = typer.Option("-5,0,5,10", help="comma-separated SNRs in dB"),
    channel: str = typer.Option("awgn", help=CHANNEL_HELP),
    csi: str = typer.Option("mmse", help="receiver CSI for fading: mmse | zf | none"),
    metrics: str = typer.Option("psnr,ssim,ms-ssim,lpips-alex", help="comma-separated metric names: psnr, ssim, ms-ssim, ms-ssim-db (-10 log10(1 - MS-SSIM), dB), lpips-alex, lpips-vgg, and set-level fid, kid (Inception; slow on CPU)"),
    limit: Optional[int] = typer.Option(None, help="use only the first N test images"),
    skip_bad: bool = typer.Option(False, "--skip-bad/--no-skip-bad", help="folder data: skip unreadable image files"),
    resize_small: bool = typer.Option(False, "--resize-small/--no-resize-small",
                                      help="folder data: upscale images smaller than --size S"),
    batch_size: int = typer.Option(64, help="images per batch (at --size native: images of one size, at most "
                                            "4,194,304 pixels a batch)"),
    seed: int = typer.Option(0, help="seed of the channel noise"),
    out: Optional[Path] = typer.Option(None, help="also write records to FILE (.csv or .json)"),
    format: str = typer.Option("table", "--format", help="table | json | csv (json/csv: one document on stdout)"),
    device: str = typer.Option("cpu", help="torch device"),
    set_: Optional[list[str]] = typer.Option(None, "--set", help=SET_HELP),
    config: Optional[Path] = typer.Option(None, "--config", help=CONFIG_HELP),
):
    """Evaluate a scheme over SNRs on held-out images: PSNR, SSIM, MS-SSIM (and more).

    --size native sends every test image whole at its own size; means weigh each image the same, and the
    records carry the sizes and the effective BCR k/(3HW) (README, "Native size")."""
    from rich.console import Console

    from genjscc.data import DataError, held_out_images
    from genjscc.evaluation.evaluate import evaluate as run
    from genjscc.evaluation.records import records_table, records_to_csv, records_to_json, write_records

    if format not in ("table", "json", "csv"):
        raise fail(f"--format must be table, json or csv, got {format!r}")
    snrs = parse_snr_list(snr)
    side = parse_size_option(size)
    check_at_least("--batch-size", batch_size)
    check_at_least("--limit", limit)
    check_device(device)
    link = open_channel(channel, csi)
    if out is not None:
        check_output(out, "--out", suffixes=RECORD_SUFFIXES)
    options = parse_set_options(set_, config)
    try:
        images = held_out_images(data, side, limit=limit, skip_bad=skip_bad, resize_small=resize_small)
    except (DataError, ValueError) as exc:
        raise fail(str(exc)) from None
    scheme = open_scheme(model, device, options, data)
    try:
        records = run(
            scheme, images, link, snrs, data=data, metrics=[m.strip() for m in metrics.split(",")],
            batch_size=batch_size, seed=seed, progress=print_progress_to_stderr, note=print_note_to_stderr,
        )
    except (DataError, ValueError) as exc:
        raise fail(str(exc)) from None
    if out is not None:
        try:
            write_records(records, out)
        except OSError as exc:
            raise fail(f"--out {out}: cannot write: {exc.strerror or exc}") from None
    if format == "json":
        sys.stdout.write(records_to_json(records))
    elif format == "csv":
        sys.stdout.write(records_to_csv(records))
    else:
        Console(width=max(Console().width, 150)).print(records_table(records))
        if out is not None:
            typer.echo(f"records written to {out}")


@zoo_app.command("list")
def zoo_list():
    """List the shipped models."""
    from rich.console import Console
    from rich.table import Table

    from genjscc.zoo import ZOO

    table = Table(title="genjscc zoo")
    for col in ("name", "kind", "description", "installed"):
        table.add_column(col, no_wrap=col != "description")  # names are what users copy: never wrapped
    for entry in ZOO.values():
        table.add_row(entry.name, entry.kind, entry.description, "yes" if entry.path.exists() else "missing")
    Console().print(table)


@app.command()
def demo(
    out: Path = typer.Option(Path("demo"), help="folder for the results"),
    snr: str = typer.Option("-5,0,5,10", help="comma-separated SNRs in dB"),
    channel: str = typer.Option("awgn", help=CHANNEL_HELP),
):
    """Send the held-out photos through every shipped scheme model; table, records, image grids and plots.

    grid.png: 64x64 held-out crops through every shipped scheme; grid-native.png: the three held-out
    photographs whole, at their own size, through DeepJSCC and WebP + ideal code at BCR 1/12 and 1/48 (at the
    lowest and highest SNR; shown downscaled to one height, scores on the full-size images)."""
    from rich.console import Console

    from genjscc.data import load_dataset, stack
    from genjscc.evaluation.evaluate import evaluate as run
    from genjscc.evaluation.records import records_table, write_records
    from genjscc.evaluation.plots import comparison_grid, plot_records
    from genjscc.evaluation.tiles import grid_tile
    from genjscc.schemes import SCHEMES, build_scheme
    from genjscc.zoo import ZOO

    snrs = parse_snr_list(snr)
    check_output_folder(out, "--out")
    link = open_channel(channel, "mmse")
    out.mkdir(parents=True, exist_ok=True)
    images = stack(load_dataset("photos", "test", 64))
    shown = images[:DEMO_GRID_IMAGES]
    records, rows = [], []
    for name, entry in ZOO.items():
        if entry.kind not in SCHEMES:  # priors and other parts are not transmission schemes
            continue
        scheme = build_scheme(name)
        records += run(scheme, images, link, snrs, batch_size=128)
        tiles, captions = zip(*(grid_tile(scheme, shown, link, s, 0) for s in snrs))
        rows.append((scheme.label, list(tiles), list(captions)))
    Console(width=max(Console().width, 150)).print(records_table(records))
    write_records(records, out / "results.csv")
    comparison_grid(shown, rows, snrs, out / "grid.png")
    native_snrs = sorted({min(snrs), max(snrs)})
    photos, native_rows = native_demo_rows(link, native_snrs)
    sizes = ", ".join(f"{p.shape[-1]}x{p.shape[-2]}" for p in photos)
    comparison_grid(photos, native_rows, native_snrs, out / "grid-native.png",
                    note=f"the held-out photographs sent whole at their own size ({sizes}); shown downscaled to one "
                         "height for display only; PSNR / LPIPS on the full-size images")
    plot_records(records, out / "psnr.png", metric="psnr", title=f"held-out photos, {link.describe()}")
    plot_records(records, out / "lpips.png", metric="lpips-alex", title=f"held-out photos, {link.describe()}")
    typer.echo(f"wrote {out / 'results.csv'}, {out / 'grid.png'} ({len(rows)} schemes x {len(snrs)} SNRs, "
               f"{len(shown)} held-out crops per tile, each labelled), {out / 'grid-native.png'} ({len(native_rows)} "
               f"schemes x {len(native_snrs)} SNRs, the {len(photos)} held-out photographs whole), "
               f"{out / 'psnr.png'} and {out / 'lpips.png'}")


DEMO_NATIVE_BCRS = ("1_12", "1_48")  # BCRs of the demo's native-size grid (DeepJSCC beside WebP + ideal code)


def native_demo_schemes() -> list:
    """The schemes of ``grid-native.png``: for each BCR of :data:`DEMO_NATIVE_BCRS`, the zoo's DeepJSCC for any
    size (``deepjscc-bcrX``) or else its 64x64 one (``deepjscc-64-bcrX``), then WebP + ideal capacity code."""
    from genjscc.schemes import build_scheme
    from genjscc.zoo import ZOO

    schemes = []
    for bcr in DEMO_NATIVE_BCRS:
        name = next((n for n in (f"deepjscc-bcr{bcr}", f"deepjscc-64-bcr{bcr}") if n in ZOO and ZOO[n].path.exists()),
                    None)
        if name is not None:
            schemes.append(build_scheme(name))
        schemes.append(build_scheme("separation", codec="webp", code="capacity", bcr=bcr.replace("_", "/")))
    return schemes


def native_demo_rows(link, snrs: list[float]) -> tuple[list, list]:
    """(the held-out photographs ``[3, H_i, W_i]`` whole, grid rows of :func:`native_demo_schemes` at ``snrs``)."""
    from genjscc.data import native_test_images
    from genjscc.evaluation.tiles import grid_tile

    found = native_test_images("photos")
    photos = [found[i] for i in range(len(found))]
    rows = []
    for scheme in native_demo_schemes():
        tiles, captions = zip(*(grid_tile(scheme, photos, link, s, 0) for s in snrs))
        label = scheme.label if scheme.kind != "separation" else f"{scheme.label} {scheme.rho}"
        rows.append((label, list(tiles), list(captions)))
    return photos, rows


def print_progress_to_stderr(snr: float, done: int, total: int) -> None:
    print(f"\rSNR {snr:g} dB: {done}/{total}", end="\n" if done >= total else "", file=sys.stderr, flush=True)


def print_note_to_stderr(text: str) -> None:
    print(f"note: {text}", file=sys.stderr)
