"""Command: app (the local web page)."""

from __future__ import annotations

from typing import Optional

import typer

from genjscc.cli.app import app, fail
from genjscc.cli.checks import check_at_least

WARM_SCHEME = "deepjscc-64-bcr1_12"  # loaded at start (with LPIPS), so a first DeepJSCC request is quick


@app.command("app")
def web_app(
    host: str = typer.Option("127.0.0.1", help="address to listen on (127.0.0.1: this machine only)"),
    port: int = typer.Option(8765, help="port to listen on (0: any free port)"),
    threads: Optional[int] = typer.Option(
        None, help="torch threads (default: torch's, one per core); 1 keeps one-image requests quick on a busy machine"),
):
    """Start a local web page: send your image through the schemes and compare what arrives (offline)."""
    if not 0 <= port <= 65535:
        raise fail(f"--port must lie in 0..65535, got {port}")
    check_at_least("--threads", threads)
    from genjscc.app import make_server

    if threads is not None:
        import torch

        torch.set_num_threads(threads)

    try:
        server = make_server(host, port, warm=WARM_SCHEME)
    except OSError as exc:
        raise fail(f"cannot listen on {host}:{port} ({exc.strerror or exc}); choose another --port, or 0 for any free one") from None
    typer.echo(f"genjscc app: open {server.url} in a browser (Ctrl+C stops it)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        typer.echo("stopped")
    finally:
        server.server_close()
