"""``genjscc plot``, ``genjscc grid`` and ``genjscc sweep``: figures and resumable sweeps."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from genjscc.cli.app import app, fail
from genjscc.cli.options import CONFIG_HELP, SET_HELP, parse_set_options
from genjscc.train.args import DATA_HELP
from genjscc.cli.checks import (
    FIGURE_SUFFIXES,
    RECORD_SUFFIXES,
    SIZE_HELP,
    check_at_least,
    check_device,
    check_output,
)


@app.command()
def plot(
    records: list[Path] = typer.Argument(..., help="record files from evaluate --out / sweep (.csv or .json)"),
    output: Path = typer.Option(Path("plot.png"), "-o", "--output", help="figure file (.png, .pdf or .svg)"),
    metric: str = typer.Option("psnr", help="psnr | ssim | ms-ssim | ms-ssim-db | lpips-alex | lpips-vgg | fid | kid"),
    x: str = typer.Option("snr", "--x", help="snr (one line per model x BCR x channel) | bcr"),
    title: Optional[str] = typer.Option(None, help="figure title"),
    models: Optional[str] = typer.Option(None, help="only these models (comma-separated record 'model' names)"),
    bcr: Optional[str] = typer.Option(None, help="only these BCRs (comma-separated, e.g. 1/12)"),
    channel: Optional[str] = typer.Option(None, help="only these channels (comma-separated record names, e.g. awgn)"),
):
    """Plot METRIC against SNR (or BCR) from any number of record files, with 95 % bands."""
    from genjscc.evaluation.plots import plot_records
    from genjscc.evaluation.records import read_records

    check_output(output, "-o", suffixes=FIGURE_SUFFIXES)
    rows = []
    for path in records:
        try:
            rows += read_records(path)
        except FileNotFoundError:
            raise fail(f"no record file {path}") from None
        except IsADirectoryError:
            raise fail(f"{path} is a folder; give record files (.csv or .json from evaluate or sweep --out)") from None
        except (ValueError, KeyError, TypeError) as exc:
            raise fail(f"{path} is not a genjscc record file (CSV or JSON from evaluate): {exc}") from None
    for field, wanted in (("model", models), ("bcr", bcr), ("channel", channel)):
        if wanted:
            rows = _filtered(rows, field, wanted)
    try:
        plot_records(rows, output, metric=metric, x=x, title=title)
    except ValueError as exc:
        raise fail(str(exc)) from None
    typer.echo(f"wrote {output} ({metric} vs {x}, {len({r.model for r in rows if r.metric == metric})} models)")


def _bcr_key(text: str):
    from fractions import Fraction

    try:
        return Fraction(text.strip())
    except (ValueError, ZeroDivisionError):
        return text.strip()


def _filtered(rows: list, field: str, wanted: str) -> list:
    """Records whose ``field`` is one of the comma-separated ``wanted`` values: BCRs compared as fractions
    (2/24 is 1/12), a channel by its name alone too (rayleigh matches rayleigh(csi=mmse))."""
    values = [w.strip() for w in wanted.split(",") if w.strip()]
    if field == "bcr":
        keys = {_bcr_key(w) for w in values}
        kept = [r for r in rows if r.bcr and _bcr_key(r.bcr) in keys]
    elif field == "channel":
        kept = [r for r in rows if r.channel in values or r.channel.partition("(")[0] in values]
    else:
        kept = [r for r in rows if getattr(r, field) in values]
    if not kept:
        held = sorted({str(getattr(r, field)) for r in rows}) or ["nothing"]
        raise fail(f"--{'models' if field == 'model' else field} {wanted} matches no record; the records hold "
                   f"{field} {', '.join(held)}")
    return kept


def _options_per_scheme(specs: list[str], options: dict) -> dict[str, dict]:
    """The options each scheme's kind takes, out of ``options``; one that no scheme takes is an error."""
    from genjscc.schemes import scheme_kind, scheme_option_fields

    taken: dict[str, dict] = {}
    for spec in specs:
        try:
            known = scheme_option_fields(scheme_kind(spec)[0])
        except (FileNotFoundError, ValueError) as exc:
            raise fail(str(exc)) from None
        taken[spec] = {k: v for k, v in options.items() if k in known}
    unused = sorted(set(options) - {k for chosen in taken.values() for k in chosen})
    if unused:
        raise fail(f"--set/--config {', '.join(unused)}: none of the schemes {', '.join(specs)} takes it")
    return taken


@app.command()
def grid(
    schemes: list[str] = typer.Argument(..., help="zoo names, weight paths or scheme kinds"),
    output: Path = typer.Option(Path("grid.png"), "-o", "--output", help="figure file (.png or .pdf)"),
    snr: str = typer.Option("-5,5", help="comma-separated SNRs in dB (one column each)"),
    n: int = typer.Option(4, "-n", help="test images per tile"),
    data: str = typer.Option("photos", help="test images: " + DATA_HELP),
    size: str = typer.Option("64", help=SIZE_HELP + "; whole images are shown downscaled to one height"),
    channel: str = typer.Option("awgn"),
    seed: int = typer.Option(0, help="seed of the channel noise"),
    device: str = typer.Option("cpu"),
    set_: Optional[list[str]] = typer.Option(None, "--set", help=SET_HELP + "; each scheme gets the options it takes"),
    config: Optional[Path] = typer.Option(None, "--config", help=CONFIG_HELP),
):
    """The same test images through several schemes at chosen SNRs; each tile labelled PSNR / LPIPS.

    Scheme kinds take their options from --set / --config (e.g. grid deepjscc-64-bcr1_12 separation
    --set codec=webp --set bcr=1/12): each scheme gets the options its kind takes. --size native sends each
    image whole at its own size (PSNR and LPIPS on the full-size images; the figure shows them downscaled)."""
    from genjscc.cli.core import open_channel, open_scheme, parse_size_option, parse_snr_list
    from genjscc.data import DataError, held_out_images
    from genjscc.evaluation.evaluate import check_sizes, plan_batches
    from genjscc.evaluation.plots import comparison_grid
    from genjscc.evaluation.tiles import grid_tile

    snrs = parse_snr_list(snr)
    side = parse_size_option(size)
    check_at_least("-n", n)
    check_device(device)
    check_output(output, "-o", suffixes=FIGURE_SUFFIXES)
    options = _options_per_scheme(schemes, parse_set_options(set_, config))
    link = open_channel(channel, "mmse")
    try:
        images = held_out_images(data, side, limit=n)
        if not hasattr(images, "dim"):
            images = [images[i] for i in range(len(images))]
    except (DataError, ValueError) as exc:
        raise fail(str(exc)) from None
    sizes = plan_batches(images, len(images)).sizes
    rows = []
    for spec in schemes:
        scheme = open_scheme(spec, device, options[spec], data)
        tiles, captions = [], []
        try:
            check_sizes(scheme, sizes)
            for s in snrs:
                tile, caption = grid_tile(scheme, images, link, s, seed)
                tiles.append(tile)
                captions.append(caption)
        except ValueError as exc:
            raise fail(str(exc)) from None
        rows.append((scheme.label, tiles, captions))
    note = None
    if not hasattr(images, "dim"):
        shapes = ", ".join(f"{w}x{h}" for h, w in sizes)
        note = (f"whole images at their own size ({shapes}), shown downscaled to one height for display only; "
                "PSNR / LPIPS on the full-size images")
    comparison_grid(images, rows, snrs, output, note=note)
    typer.echo(f"wrote {output} ({len(schemes)} schemes x {len(snrs)} SNRs, {len(images)} images per tile)")


@app.command()
def sweep(
    config: Path = typer.Argument(..., help="YAML: schemes, snr, channels, data, size (S or native), limit, metrics, "
                                            "seed"),
    store: Path = typer.Option(Path("sweep.jsonl"), help="results store; finished points are skipped on a rerun"),
    out: Optional[Path] = typer.Option(None, help="also write all records to FILE (.csv or .json)"),
):
    """Evaluate schemes x channels x SNRs from one YAML; interrupted sweeps resume where they stopped."""
    import yaml
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from genjscc.data import DataError
    from genjscc.evaluation.sweep import run_sweep, sweep_points
    from genjscc.evaluation.records import records_markdown, write_records

    try:
        settings = yaml.safe_load(config.read_text())
    except FileNotFoundError:
        raise fail(f"no sweep configuration {config}") from None
    except (yaml.YAMLError, UnicodeDecodeError, OSError) as exc:
        raise fail(f"cannot read {config} as YAML: {exc}") from None
    if not isinstance(settings, dict):
        raise fail(f"{config} must hold a mapping (schemes:, snr:, channels:, ...)")
    try:
        sweep_points(settings)  # every setting checked before anything runs (schemes and data: in run_sweep)
    except ValueError as exc:
        raise fail(f"{config}: {exc}") from None
    check_output(store, "--store", inputs=(config,), make_folder=True)
    if out is not None:
        check_output(out, "--out", inputs=(config, store), suffixes=RECORD_SUFFIXES, make_folder=True)
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
               TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, transient=False) as bar:
        task = bar.add_task("sweep", total=None)

        def progress(done, total, point):
            label = f"{point.scheme} {point.channel} {point.snr_db:g} dB" if point is not None else "done"
            bar.update(task, completed=done, total=total, description=label)

        try:
            records = run_sweep(settings, store, progress=progress)
        except (DataError, ValueError, TypeError, FileNotFoundError) as exc:
            raise fail(str(exc)) from None
    if out is not None:
        try:
            write_records(records, out)
        except OSError as exc:
            raise fail(f"--out {out}: cannot write: {exc.strerror or exc}") from None
    typer.echo(records_markdown(records))
    typer.echo(f"{len(records)} records in {store}" + (f" and {out}" if out else ""))
