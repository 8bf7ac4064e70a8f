"""Command: fetch-photos (pinned photographs from Debian packages; the work is in genjscc.data.fetch_photos).

Importing this module imports neither torch nor genjscc.data: the command imports them when it runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from genjscc.cli.app import app, fail


@app.command("fetch-photos")
def fetch_photos_command(
    out: Path = typer.Argument(..., help="folder to fill: OUT/train, OUT/test and OUT/manifest.json"),
    debs: Optional[Path] = typer.Option(
        None, "--debs", help="folder that already holds the pinned .deb files (offline); default: apt-get download"),
):
    """Fetch 14 pinned photographs (10 train, 4 held-out test) from Debian 12 packages into OUT; use --data folder:OUT.

    Sources: lomiri-wallpapers-16.04 and lomiri-wallpapers-20.04; each .deb and photograph is checked by sha256.

    Licences: CC-BY-4.0, CC-BY-SA-4.0, CC-BY-SA-3.0, CC0-1.0; each photo's author and licence are in OUT/manifest.json.

    Resize rule: a long side over 768 px is scaled to 768 with LANCZOS (Kodak-like scale); saved as RGB PNG.

    Downloads with apt-get (no root needed); a re-run with everything present and verified does nothing.
    """
    from genjscc.cli.checks import check_output_folder

    check_output_folder(out, "OUT")
    if debs is not None and not debs.is_dir():
        raise fail(f"--debs {debs}: not a folder; give the folder that holds the .deb files")
    from genjscc.data.fetch_photos import FetchError, fetch_photos

    try:
        result = fetch_photos(out, debs=debs, progress=lambda line: typer.echo(line, err=True))
    except FetchError as exc:
        raise fail(str(exc)) from None
    except OSError as exc:
        raise fail(f"{out}: cannot write: {exc.strerror or exc}") from None
    if not result.written and not result.removed:
        typer.echo(f"{out}: all {len(result.kept)} photographs present and verified; nothing to do")
    else:
        removed = f", removed {len(result.removed)} stale" if result.removed else ""
        typer.echo(f"{out}: wrote {len(result.written)}, kept {len(result.kept)}{removed}; "
                   f"train with --data folder:{out}")
