"""`genjscc demo` labels its grids as `genjscc grid` does: scheme and SNR per tile, PSNR / LPIPS under each; its
second grid shows the held-out photographs whole, through DeepJSCC and WebP + ideal code."""

from __future__ import annotations

import re

from typer.testing import CliRunner

from genjscc.cli import app


def test_demo_grid_is_the_labelled_comparison_grid(tmp_path, monkeypatch):
    import genjscc.evaluation.plots
    from genjscc.schemes import SCHEMES
    from genjscc.zoo import ZOO

    drawn = []
    real = genjscc.evaluation.plots.comparison_grid

    def recording(originals, rows, snrs, path, **options):
        drawn.append((originals, rows, snrs, path, options))
        return real(originals, rows, snrs, path, **options)

    monkeypatch.setattr(genjscc.evaluation.plots, "comparison_grid", recording)
    result = CliRunner().invoke(app, ["demo", "--out", str(tmp_path), "--snr", "10,-5"])
    assert result.exit_code == 0, result.output
    (originals, rows, snrs, path, _), native = drawn
    _check_native_grid(*native, tmp_path)
    rows = [(label, tiles[::-1], captions[::-1]) for label, tiles, captions in rows]
    snrs = snrs[::-1]
    assert path == tmp_path / "grid.png" and path.stat().st_size > 10_000
    assert snrs == [-5.0, 10.0] and originals.shape == (4, 3, 64, 64)
    assert [label for label, _, _ in rows] == [n for n, e in ZOO.items() if e.kind in SCHEMES]
    for label, tiles, captions in rows:
        assert len(tiles) == len(captions) == 2 and tiles[0].shape == originals.shape
        assert all(re.fullmatch(r"\d+\.\d dB / LPIPS \d\.\d{3}", c) for c in captions), captions
        low, high = (float(c.split(" dB")[0]) for c in captions)
        assert high > low  # 10 dB arrives cleaner than -5 dB: the captions belong to their tiles


def _check_native_grid(originals, rows, snrs, path, options, folder):
    """grid-native.png: the three held-out photographs whole, DeepJSCC and WebP + ideal code at 1/12 and 1/48, the
    lowest and highest SNR, each tile the photos at their own size with PSNR / LPIPS of the full-size images."""
    assert path == folder / "grid-native.png" and path.stat().st_size > 10_000
    assert [tuple(o.shape) for o in originals] == [(3, 300, 451), (3, 400, 600), (3, 427, 640)]
    assert snrs == [-5.0, 10.0] and "downscaled" in options["note"] and "451x300" in options["note"]
    labels = [label for label, _, _ in rows]
    assert labels[1::2] == ["webp+capacity 1/12", "webp+capacity 1/48"]
    assert all(label.startswith("deepjscc-") and label.endswith(bcr) for label, bcr in zip(labels[::2], ("1_12", "1_48")))
    for label, tiles, captions in rows:
        assert [[tuple(t.shape) for t in tile] for tile in tiles] == [[tuple(o.shape) for o in originals]] * 2
        assert all(re.fullmatch(r"\d+\.\d dB / LPIPS \d\.\d{3}", c) for c in captions), captions
        low, high = (float(c.split(" dB")[0]) for c in captions)
        assert high > low, label
