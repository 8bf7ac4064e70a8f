"""Options declared once: training commands built from dataclasses, generic scheme options.

* :func:`training_command` turns a trainer's argument dataclass (fields made with
  :func:`genjscc.train.args.option`) plus :class:`~genjscc.train.args.TrainerOptions`
  into a Typer command, so a training argument is written in exactly one place.
* :func:`parse_set_options` reads ``--set key=value`` (repeatable; values parsed as YAML
  scalars: ``0.1`` is a number, ``1/48`` and ``best`` are strings) and ``--config FILE.yaml``
  (a mapping; ``--set`` wins) into ``{name: value}``; the scheme's options dataclass
  (:func:`genjscc.schemes.scheme_option_fields`) checks the names and reads the values.
"""

from __future__ import annotations

import inspect
import shlex
import sys
import typing
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Callable, Optional

import typer

from genjscc.cli.app import fail
from genjscc.train.args import flag_name

__all__ = ["training_command", "parse_set_options", "command_line", "SET_HELP", "CONFIG_HELP"]

SET_HELP = "scheme option KEY=VALUE (repeatable), e.g. --set codec=webp --set bcr=1/48"
CONFIG_HELP = "YAML file of scheme options (a mapping); --set overrides it"


def command_line() -> str:
    return "genjscc " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def _parameters(cls, hints: dict, defaults: dict) -> list[inspect.Parameter]:
    params = []
    for f in fields(cls):
        default = defaults.get(f.name, f.default if f.default is not MISSING else f.default_factory())
        flags = f.metadata.get("flags") or (flag_name(f.name),)
        if hints[f.name] is bool and "/" not in flags[0]:
            flags = (f"{flags[0]}/--no-{flags[0][2:]}",)
        info = typer.Option(default, *flags, help=f.metadata.get("help", ""))
        params.append(inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=info, annotation=hints[f.name]))
    return params


def training_command(app: typer.Typer, name: str, args_cls, train: Callable, *, help: str, out: Path,
                     defaults: Optional[dict] = None, resolve_model: Optional[Callable[[str], Path]] = None) -> None:
    """Register ``genjscc train NAME``: options from ``args_cls`` and ``TrainerOptions``, plus ``--out`` and ``--resume``.

    ``train(args, out, options, resume=..., command=...)`` runs it; ``defaults`` override field
    defaults for this command (e.g. ``{"steps": 2000}``); fields marked ``names_model`` are
    resolved with ``resolve_model`` (zoo name -> path) before the arguments are built.
    """
    from genjscc.train.args import TrainerOptions

    defaults = defaults or {}
    arg_names = [f.name for f in fields(args_cls)]
    option_names = [f.name for f in fields(TrainerOptions)]
    clash = set(arg_names) & set(option_names)
    if clash:
        raise TypeError(f"{args_cls.__name__} repeats trainer options {sorted(clash)}")
    params = _parameters(args_cls, typing.get_type_hints(args_cls), defaults)
    params += _parameters(TrainerOptions, typing.get_type_hints(TrainerOptions), defaults)
    params.append(inspect.Parameter("out", inspect.Parameter.KEYWORD_ONLY, annotation=Path,
                                    default=typer.Option(out, help="run folder (checkpoints, logs, exported weights)")))
    params.append(inspect.Parameter("resume", inspect.Parameter.KEYWORD_ONLY, annotation=bool,
                                    default=typer.Option(False, help="continue the run in --out from its last checkpoint")))
    params.insert(0, inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context))
    model_fields = [f.name for f in fields(args_cls) if f.metadata.get("names_model")]

    def command(**values):
        from genjscc.cli.checks import check_output_folder

        check_output_folder(values["out"], "--out")
        arg_values = {k: values[k] for k in arg_names}
        if values["resume"]:  # arguments not given on this command line come from the run's record
            from genjscc.train.common import recorded_args

            try:
                saved = recorded_args(values["out"])
            except ValueError as exc:
                raise fail(str(exc)) from None
            ctx = values["ctx"]
            for key in arg_names:
                source = ctx.get_parameter_source(key)
                if key in saved and (source is None or source.name == "DEFAULT"):
                    arg_values[key] = saved[key]
        for key in model_fields:
            if arg_values[key] and resolve_model is not None:
                try:
                    arg_values[key] = str(resolve_model(arg_values[key]))
                except FileNotFoundError as exc:
                    raise fail(f"{flag_name(key)}: {exc}") from None
        from genjscc.train.common import TrainingInterrupted

        try:
            args = args_cls(**arg_values)
            options = TrainerOptions(**{k: values[k] for k in option_names})
            path = train(args, values["out"], options, resume=values["resume"], command=command_line())
        except (FileNotFoundError, FileExistsError, ValueError) as exc:
            raise fail(str(exc)) from None
        except TrainingInterrupted as exc:
            typer.echo(f"interrupted: {exc}", err=True)
            raise typer.Exit(code=130) from None
        typer.echo(f"weights: {path}")

    command.__signature__ = inspect.Signature(params)
    command.__annotations__ = {p.name: p.annotation for p in params}
    command.__doc__ = help
    command.__name__ = f"train_{name}"
    app.command(name, help=help)(command)


def _scalar(text: str):
    """A ``--set`` value read as YAML: a scalar, or a list of scalars (``[3,2]``); anything else stays text."""
    import yaml

    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    plain = (str, int, float, bool)
    if isinstance(value, list) and all(isinstance(v, plain) for v in value):
        return value
    return value if isinstance(value, plain) or value is None else text


def parse_set_options(sets: Optional[list[str]], config: Optional[Path]) -> dict:
    """``--config FILE.yaml`` then ``--set KEY=VALUE`` pairs -> a dict of scheme options."""
    options: dict = {}
    if config is not None:
        import yaml

        try:
            loaded = yaml.safe_load(Path(config).read_text())
        except FileNotFoundError:
            raise fail(f"--config: no file {config}") from None
        except (OSError, yaml.YAMLError, UnicodeDecodeError) as exc:
            raise fail(f"--config: cannot read {config} as YAML: {exc}") from None
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise fail(f"--config: {config} must hold a mapping of option: value, got a {type(loaded).__name__}")
        options.update({str(k).replace("-", "_"): v for k, v in loaded.items()})
    for item in sets or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise fail(f"--set {item!r}: write KEY=VALUE, e.g. --set codec=webp")
        options[key.strip().replace("-", "_")] = _scalar(value.strip())
    return options
