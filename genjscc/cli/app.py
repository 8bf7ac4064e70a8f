"""The Typer applications that command modules attach to (kept apart to avoid import cycles)."""

import typer

app = typer.Typer(
    help="genjscc: send images over noisy channels with (generative) deep joint source-channel coding.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
train_app = typer.Typer(help="Train a model (Lightning; CPU, GPU or many GPUs).", no_args_is_help=True)
zoo_app = typer.Typer(help="Shipped weights.", no_args_is_help=True)
def _version(value: bool) -> None:
    if value:
        from genjscc import __version__

        typer.echo(f"genjscc {__version__}")
        raise typer.Exit()


@app.callback()
def _main(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="print the version and exit")) -> None:
    """genjscc: send images over noisy channels with (generative) deep joint source-channel coding."""


app.add_typer(train_app, name="train")
app.add_typer(zoo_app, name="zoo")


def fail(message: str) -> "typer.Exit":
    """Print ``error: message`` to stderr and return the exit to raise (code 2)."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=2)
