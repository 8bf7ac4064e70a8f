"""``genjscc plot``, ``genjscc grid`` and ``genjscc sweep``: figures and resumable sweeps."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from genjscc.cli.app import app, fail
from genjscc.cli.checks import FIGURE_SUFFIXES, RECORD_SUFFIXES, check_at_least, check_device, check_output


@app.command()
def plot(
    records: list[Path] = typer.Argument(..., help="record files from evaluate --out / sweep (.csv or .json)"),
    output: Path = typer.Option(Path("plot.png"), "-o", "--output", help="figure file (.png, .pdf or .svg)"),
    metric: str = typer.Option("psnr", help="psnr | ssim | ms-ssim | lpips-alex | lpips-vgg | fid | kid"),
    x: str = typer.Option("snr", "--x", help="snr (one line per model x BCR x channel) | bcr"),
    title: Optional[str] = typer.Option(None, help="figure title"),
    models: Optional[str] = typer.Option(None, help="only these models (comma-separated record 'model' names)"),
    bcr: Optional[str] = typer.Option(None, help="only these BCRs (comma-separated, e.g. 1/12)"),
    channel: Optional[str] = typer.Option(None, help="only these channels (comma-separated record names, e.g. awgn)"),
):
    """Plot METRIC against SNR (or BCR) from any number of record files, with 95 % bands."""
    from genjscc.plots import plot_records
    from genjscc.records import read_records

    check_output(output, "-o", suffixes=FIGURE_SUFFIXES)
    rows = []
    for path in records:
        try:
            rows += read_records(path)
        except FileNotFoundError:
            raise fail(f"no record file {path}") from None
        except IsADirectoryError:
            raise fail(f"{path} is a folder; give record files (.csv or .json from evaluate --out or sweep --out)") from None
        except (ValueError, KeyError, TypeError) as exc:
            raise fail(f"{path} is not a genjscc record file (CSV or JSON from evaluate): {exc}") from None
    for field, wanted in (("model", models), ("bcr", bcr), ("channel", channel)):
        if wanted:
            keep = {w.strip() for w in wanted.split(",")}
            rows = [r for r in rows if getattr(r, field) in keep]
    try:
        plot_records(rows, output, metric=metric, x=x, title=title)
    except ValueError as exc:
        raise fail(str(exc)) from None
    typer.echo(f"wrote {output} ({metric} vs {x}, {len({r.model for r in rows if r.metric == metric})} models)")


@app.command()
def grid(
    schemes: list[str] = typer.Argument(..., help="zoo names, weight paths or scheme kinds"),
    output: Path = typer.Option(Path("grid.png"), "-o", "--output", help="figure file (.png or .pdf)"),
    snr: str = typer.Option("-5,5", help="comma-separated SNRs in dB (one column each)"),
    n: int = typer.Option(4, "-n", help="test images per tile"),
    data: str = typer.Option("photos", help="dataset of the test images"),
    size: int = typer.Option(64),
    channel: str = typer.Option("awgn"),
    seed: int = typer.Option(0, help="seed of the channel noise"),
    device: str = typer.Option("cpu"),
):
    """The same test images through several schemes at chosen SNRs; each tile labelled PSNR / LPIPS."""
    import torch

    from genjscc.cli.core import open_channel, open_scheme, parse_snr_list
    from genjscc.data import DataError, load_dataset, stack
    from genjscc.evaluate import send
    from genjscc.metrics import lpips_alex, psnr
    from genjscc.plots import comparison_grid

    snrs = parse_snr_list(snr)
    check_at_least("-n", n)
    check_device(device)
    check_output(output, "-o", suffixes=FIGURE_SUFFIXES)
    link = open_channel(channel, "mmse")
    try:
        images = stack(load_dataset(data, "test", size, limit=n))
    except (DataError, ValueError) as exc:
        raise fail(str(exc)) from None
    rows = []
    for spec in schemes:
        scheme = open_scheme(spec, device, {}, data, size, size)
        tiles, captions = [], []
        for s in snrs:
            g = torch.Generator(device=scheme.device).manual_seed(seed)
            try:
                out = send(scheme, images.to(scheme.device), link, s, generator=g)
            except ValueError as exc:
                raise fail(str(exc)) from None
            with torch.no_grad():
                target = images.to(out.device)
                captions.append(f"{psnr(out, target).mean():.1f} dB / LPIPS {lpips_alex(out, target).mean():.3f}")
            tiles.append(out.cpu())
        rows.append((scheme.label, tiles, captions))
    comparison_grid(images, rows, snrs, output)
    typer.echo(f"wrote {output} ({len(schemes)} schemes x {len(snrs)} SNRs, {len(images)} images per tile)")


@app.command()
def sweep(
    config: Path = typer.Argument(..., help="YAML: schemes, snr, channels, data, size, limit, metrics, seed"),
    store: Path = typer.Option(Path("sweep.jsonl"), help="results store; finished points are skipped on a rerun"),
    out: Optional[Path] = typer.Option(None, help="also write all records to FILE (.csv or .json)"),
):
    """Evaluate schemes x channels x SNRs from one YAML; interrupted sweeps resume where they stopped."""
    import yaml
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from genjscc.data import DataError
    from genjscc.evaluate import read_store, run_sweep, sweep_points
    from genjscc.records import records_markdown, write_records

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
    try:
        read_store(store)
    except ValueError as exc:
        raise fail(f"--store: {exc}") from None
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
            out.parent.mkdir(parents=True, exist_ok=True)
            write_records(records, out)
        except OSError as exc:
            raise fail(f"--out {out}: cannot write: {exc.strerror or exc}") from None
    typer.echo(records_markdown(records))
    typer.echo(f"{len(records)} records in {store}" + (f" and {out}" if out else ""))
