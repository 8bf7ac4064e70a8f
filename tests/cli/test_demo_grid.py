"""`genjscc demo` labels its grid as `genjscc grid` does: scheme and SNR per tile, PSNR / LPIPS under each."""

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

    def recording(originals, rows, snrs, path):
        drawn.append((originals, rows, snrs, path))
        return real(originals, rows, snrs, path)

    monkeypatch.setattr(genjscc.evaluation.plots, "comparison_grid", recording)
    result = CliRunner().invoke(app, ["demo", "--out", str(tmp_path), "--snr", "-5,10"])
    assert result.exit_code == 0, result.output
    (originals, rows, snrs, path), = drawn
    assert path == tmp_path / "grid.png" and path.stat().st_size > 10_000
    assert snrs == [-5.0, 10.0] and originals.shape == (4, 3, 64, 64)
    assert [label for label, _, _ in rows] == [n for n, e in ZOO.items() if e.kind in SCHEMES]
    for label, tiles, captions in rows:
        assert len(tiles) == len(captions) == 2 and tiles[0].shape == originals.shape
        assert all(re.fullmatch(r"\d+\.\d dB / LPIPS \d\.\d{3}", c) for c in captions), captions
        low, high = (float(c.split(" dB")[0]) for c in captions)
        assert high > low  # 10 dB arrives cleaner than -5 dB: the captions belong to their tiles
