"""The scheme interface and its registry.

A **scheme** is one way of sending images: ``scheme.transmit(images [B, 3, H, W] in [0, 1],
channel, snr_db) -> reconstructions [B, 3, H, W] in [0, 1]``. Evaluation, the demo and the
CLI only talk to schemes, so a scheme registered once is available everywhere.

The registry :data:`SCHEMES` maps a scheme kind to a builder ``build(model, **options)``:
``model`` is the path of a weight file (``None`` for schemes without one of their own, such
as the separation baselines), ``options`` are the scheme's keyword options (the CLI's
``--set key=value``). Built-in schemes register when :mod:`genjscc.schemes` is imported;
third-party packages register theirs through the entry-point group ``genjscc.schemes``::

    [project.entry-points."genjscc.schemes"]
    mything = "mypackage.mymodule"          # a module that calls @register_scheme on import
    other = "mypackage.mymodule:build_other"  # or a builder, registered under the entry's name

This module imports nothing of the project but :mod:`genjscc.channel`.
"""

from __future__ import annotations

import inspect
import typing
from abc import ABC, abstractmethod
from fractions import Fraction
from pathlib import Path
from typing import Callable

import torch
from torch import Tensor

from genjscc.channel import Channel

__all__ = ["Scheme", "NetworkScheme", "SCHEMES", "SchemeBuilder", "register_scheme", "scheme_builder", "scheme_options", "ENTRY_POINT_GROUP"]

ENTRY_POINT_GROUP = "genjscc.schemes"


class Scheme(ABC):
    """A transmission scheme: images in, reconstructions out, through ``channel`` at ``snr_db``."""

    kind: str = "scheme"

    # options that change how a scheme runs, never what it outputs: not part of a record's identity
    RUN_OPTIONS = frozenset({"compile", "progress"})

    def __init__(self, label: str):
        self.label = label  # model name used in result records
        self.device = torch.device("cpu")
        # what makes this scheme's numbers, for result records: its weight files (hashed) and the options
        # it was built with (build_from_registry fills both; builders of composite schemes add their parts')
        self.weight_files: tuple[Path, ...] = ()
        self.options: dict = {}
        # intermediate reconstructions of the latest transmit, {label: (kind, images [B, 3, H, W] in [0, 1])}:
        # evaluation scores them on the same images and channel draws (e.g. InverseJSCC's DeepJSCC output)
        self.stage_outputs: dict[str, tuple[str, Tensor]] = {}
        # per-image figures of the latest transmit, {name: [B]} (e.g. InverseJSCC's "accepted", 0 or 1):
        # evaluation records their mean over the images beside the metrics of the scheme's output
        self.reports: dict[str, Tensor] = {}

    @abstractmethod
    def transmit(
        self, images: Tensor, channel: Channel, snr_db: float | Tensor, *, generator: torch.Generator | None = None
    ) -> Tensor:
        """images ``[B, 3, H, W]`` in [0, 1] -> reconstructions ``[B, 3, H, W]`` in [0, 1].

        ``snr_db``: a float or a tensor ``[B]`` (dB); ``generator`` seeds the channel's draws.
        """

    def bcr(self, height: int, width: int) -> Fraction | None:
        """Bandwidth compression ratio k/n at H x W (None when not fixed by the scheme)."""
        return None

    def check_size(self, height: int, width: int) -> None:
        """Raise ``ValueError`` when the scheme cannot send H x W images."""

    def stage_identity(self, label: str) -> tuple[tuple[Path, ...], dict]:
        """Weight files and options of the stage whose output is ``stage_outputs[label]``."""
        return (), {}

    def use_training_mean(self, mean_image: Tensor) -> None:
        """Receive the training data's mean image ``[3, H, W]`` in [0, 1].

        Schemes that output a fallback when nothing usable arrives (separation: a file that does
        not fit or is lost) output this image; the others ignore it.
        """

    def to(self, device: torch.device | str) -> "Scheme":
        self.device = torch.device(device)
        return self


class NetworkScheme(Scheme):
    """A scheme that is one trained network ``model(images, channel, snr_db, generator=g)`` with
    ``model.kind``, ``model.bcr(H, W)`` and ``model.check_size(H, W)`` (a
    :class:`~genjscc.models.base.JSCCModel`: DeepJSCC, GenerativeJSCC), run in inference mode on the
    scheme's device; :mod:`genjscc.schemes.network` builds one for every network kind."""

    def __init__(self, model: torch.nn.Module, label: str, compile: bool = False):
        super().__init__(label)
        self.kind = model.kind
        self.model = model.eval()
        if compile:  # --set compile=true: the model's real-valued networks through torch.compile
            self.model.compile_networks()

    def transmit(self, images, channel, snr_db, *, generator=None):
        with torch.inference_mode():
            return self.model(images.to(self.device), channel, snr_db, generator=generator)

    def bcr(self, height, width):
        return self.model.bcr(height, width)

    def check_size(self, height, width):
        self.model.check_size(height, width)

    def to(self, device):
        super().to(device)
        self.model.to(self.device)
        return self


SchemeBuilder = Callable[..., Scheme]
SCHEMES: dict[str, SchemeBuilder] = {}


def register_scheme(kind: str) -> Callable[[SchemeBuilder], SchemeBuilder]:
    """Decorator: register ``build(model: Path | None, **options) -> Scheme`` under ``kind``."""

    def decorate(builder: SchemeBuilder) -> SchemeBuilder:
        if kind in SCHEMES and SCHEMES[kind] is not builder:
            raise ValueError(f"scheme {kind!r} registered twice")
        SCHEMES[kind] = builder
        return builder

    return decorate


_entry_points_loaded = False


def _load_entry_points() -> None:
    """Import third-party schemes declared in the ``genjscc.schemes`` entry-point group (once)."""
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    from importlib.metadata import entry_points

    for entry in entry_points(group=ENTRY_POINT_GROUP):
        if entry.name in SCHEMES:
            continue
        loaded = entry.load()
        if callable(loaded) and not inspect.ismodule(loaded) and entry.name not in SCHEMES:
            register_scheme(entry.name)(loaded)


def scheme_builder(kind: str) -> SchemeBuilder:
    """The builder registered for ``kind`` (built-in or from an entry point)."""
    if kind not in SCHEMES:
        _load_entry_points()
    if kind not in SCHEMES:
        raise ValueError(f"unknown scheme {kind!r}; registered: {', '.join(sorted(SCHEMES))}")
    return SCHEMES[kind]


def scheme_options(kind: str) -> dict[str, inspect.Parameter]:
    """The keyword options a scheme's builder takes (for help texts and error messages)."""
    params = inspect.signature(scheme_builder(kind)).parameters
    return {n: p for n, p in params.items() if p.kind is inspect.Parameter.KEYWORD_ONLY}


def parse_flag(value, option: str) -> bool:
    """A yes/no scheme option given as a bool or as text (``--set compile=true``)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"scheme option {option} takes true or false, got {value!r}")


def _typed_option(name: str, value, hint):
    """``value`` of option ``name`` as its annotation ``hint`` asks (text ``"0.1"`` -> 0.1 for a float);
    a value that cannot be read is a ``ValueError`` naming the option and what it takes."""
    allowed = tuple(a for a in (typing.get_args(hint) or (hint,)) if isinstance(a, type))
    if isinstance(value, str) and allowed and str not in allowed:  # text the option cannot take as it is
        for kind, read, words in ((bool, lambda v: parse_flag(v, name), "true or false"), (int, int, "a whole number"),
                                  (float, float, "a number")):
            if kind in allowed:
                try:
                    return read(value.strip())
                except ValueError:
                    raise ValueError(f"scheme option {name} takes {words}, got {value!r}") from None
    if isinstance(value, int) and not isinstance(value, bool) and float in allowed and int not in allowed:
        return float(value)
    return value


def build_from_registry(kind: str, model: Path | None, options: dict) -> Scheme:
    """Call the builder of ``kind``; an unknown option is a ``ValueError`` that lists the known ones, a
    value its annotation cannot read (``--set lr=abc`` for a float) one that names the option."""
    builder = scheme_builder(kind)
    known = scheme_options(kind)
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in inspect.signature(builder).parameters.values())
    unknown = sorted(set(options) - set(known))
    if unknown and not takes_any:
        hint = ", ".join(sorted(known)) or "none"
        raise ValueError(f"scheme {kind!r} has no option {', '.join(unknown)}; its options: {hint}")
    try:
        hints = typing.get_type_hints(builder)
    except (NameError, TypeError):  # a third-party builder's annotations that do not resolve: taken as given
        hints = {}
    options = {k: _typed_option(k, v, hints[k]) if k in hints else v for k, v in options.items()}
    scheme = builder(model, **options)
    scheme.options = {k: v for k, v in options.items() if k not in Scheme.RUN_OPTIONS}
    if model is not None and not scheme.weight_files:
        scheme.weight_files = (Path(model),)
    return scheme
