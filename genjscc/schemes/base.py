"""The scheme interface and its registry.

A **scheme** is one way of sending images: ``scheme.transmit(images [B, 3, H, W] in [0, 1],
channel, snr_db) -> Transmission`` (the reconstructions ``[B, 3, H, W]`` in [0, 1], plus the
intermediate outputs and per-image figures the scheme can report). Evaluation, the demo and the
CLI only talk to schemes, so a scheme registered once is available everywhere.

The registry :data:`SCHEMES` maps a scheme kind to its builder ``build(model, options)`` and its
options dataclass (:mod:`genjscc.schemes.options`): ``model`` is the path of a weight file
(``None`` for schemes without one of their own, such as the separation baselines), ``options`` an
instance of the dataclass (the CLI's ``--set key=value``). Built-in schemes register when
:mod:`genjscc.schemes` is imported; third-party packages register theirs through the entry-point
group ``genjscc.schemes``::

    [project.entry-points."genjscc.schemes"]
    mything = "mypackage.mymodule"          # a module that calls @register_scheme on import
    other = "mypackage.mymodule:build_other"  # or a builder, registered under the entry's name

A builder registered without an options dataclass takes its options as keyword-only arguments
(``build(model, *, level: float = 0.5)``); its dataclass is made from that signature.

This module imports nothing of the project but :mod:`genjscc.channel` and :mod:`genjscc.schemes.options`.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from dataclasses import dataclass, field, fields
from fractions import Fraction
from pathlib import Path
from typing import Callable

import torch
from torch import Tensor

from genjscc.channel import Channel
from genjscc.schemes.options import OptionField, keyword_options, option_fields, parse_flag, read_options

__all__ = ["scheme_kinds", "LAZY_SCHEMES", "Scheme", "Transmission", "Stage", "SCHEMES", "SchemeBuilder",
           "SchemeEntry", "register_scheme", "scheme_entry", "scheme_option_fields", "parse_flag",
           "ENTRY_POINT_GROUP"]

ENTRY_POINT_GROUP = "genjscc.schemes"


@dataclass(frozen=True)
class Stage:
    """An intermediate reconstruction a scheme reports: ``kind`` of the scheme that would make it alone
    (records' ``scheme``), ``images [B, 3, H, W]`` in [0, 1] (e.g. InverseJSCC's DeepJSCC output x̂)."""

    kind: str
    images: Tensor


@dataclass(frozen=True)
class Transmission:
    """What one ``transmit`` produced.

    ``images [B, 3, H, W]`` in [0, 1]: the reconstructions. ``stages``: ``{label: Stage}``, outputs
    of the scheme's parts on the same images and channel draws, which evaluation scores beside the
    scheme's own (a paired comparison). ``report``: ``{name: [B]}`` per-image figures (InverseJSCC's
    ``accepted``, 0 or 1), recorded as their mean over the images.
    """

    images: Tensor
    stages: dict[str, Stage] = field(default_factory=dict)
    report: dict[str, Tensor] = field(default_factory=dict)


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

    @abstractmethod
    def transmit(
        self, images: Tensor, channel: Channel, snr_db: float | Tensor, *, generator: torch.Generator | None = None
    ) -> Transmission:
        """images ``[B, 3, H, W]`` in [0, 1] -> :class:`Transmission` (reconstructions ``[B, 3, H, W]`` in [0, 1]).

        ``snr_db``: a float or a tensor ``[B]`` (dB); ``generator`` seeds the channel's draws.
        """

    def bcr(self, height: int, width: int) -> Fraction | None:
        """Bandwidth compression ratio k/n at H x W (None when not fixed by the scheme)."""
        return None

    def check_size(self, height: int, width: int) -> None:
        """Raise ``ValueError`` when the scheme cannot send H x W images."""

    def stage_identity(self, label: str) -> tuple[tuple[Path, ...], dict]:
        """Weight files and options of the stage reported as ``Transmission.stages[label]``."""
        return (), {}

    def to(self, device: torch.device | str) -> "Scheme":
        self.device = torch.device(device)
        return self


SchemeBuilder = Callable[..., Scheme]


@dataclass(frozen=True)
class SchemeEntry:
    """A registered scheme kind: ``builder(model, options)`` with ``options`` an instance of ``options``
    (or, for a builder registered without a dataclass, ``builder(model, **options)``)."""

    builder: SchemeBuilder
    options: type  # the options dataclass
    keywords: bool = False  # the builder takes keyword options (a third-party builder without a dataclass)


SCHEMES: dict[str, SchemeEntry] = {}

#: Built-in schemes registered when first asked for (their modules import the prior, the ILO solver or
#: the codecs, which a DeepJSCC transmit never needs); the network schemes register on package import.
LAZY_SCHEMES: dict[str, str] = {"inverse": "genjscc.schemes.inverse", "separation": "genjscc.schemes.separation"}


def register_scheme(kind: str, options: type | None = None) -> Callable[[SchemeBuilder], SchemeBuilder]:
    """Decorator: register ``build(model: Path | None, options) -> Scheme`` under ``kind`` with its options
    dataclass; without one, ``build(model, **options)`` and the dataclass made from its keyword-only arguments."""

    def decorate(builder: SchemeBuilder) -> SchemeBuilder:
        if kind in SCHEMES and SCHEMES[kind].builder is not builder:
            raise ValueError(f"scheme {kind!r} registered twice")
        if options is None:
            entry = SchemeEntry(builder, keyword_options(f"{kind.title()}Options", builder), keywords=True)
        else:
            entry = SchemeEntry(builder, options)
        option_fields(entry.options)  # a dataclass whose nested settings repeat a name fails here, not on use
        SCHEMES[kind] = entry
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


def scheme_kinds() -> list[str]:
    """Every scheme kind, sorted: the built-ins (registered or not yet imported) and the entry points'."""
    _load_entry_points()
    return sorted(set(SCHEMES) | set(LAZY_SCHEMES))


def scheme_entry(kind: str) -> SchemeEntry:
    """The builder and options dataclass registered for ``kind`` (built-in or from an entry point)."""
    if kind not in SCHEMES and kind in LAZY_SCHEMES:
        import importlib

        importlib.import_module(LAZY_SCHEMES[kind])  # registers the kind
    if kind not in SCHEMES:
        _load_entry_points()
    if kind not in SCHEMES:
        raise ValueError(f"unknown scheme {kind!r}; registered: {', '.join(scheme_kinds())}")
    return SCHEMES[kind]


def scheme_option_fields(kind: str) -> dict[str, OptionField]:
    """The options a scheme kind takes, ``{name: OptionField}`` (type, default, help), from its dataclass."""
    return option_fields(scheme_entry(kind).options)


def build_from_registry(kind: str, model: Path | None, options: dict, defaults: dict | None = None) -> Scheme:
    """Call the builder of ``kind``; an unknown option is a ``ValueError`` that lists the known ones, a
    value its type cannot read (``--set lr=abc`` for a float) one that names the option. ``defaults``
    replace the dataclass's defaults where ``options`` does not give a value; only ``options`` are recorded
    in ``scheme.options`` (a record's identity)."""
    entry = scheme_entry(kind)
    known = option_fields(entry.options)
    unknown = sorted(set(options) - set(known))
    if unknown:
        hint = ", ".join(sorted(known)) or "none"
        raise ValueError(f"scheme {kind!r} has no option {', '.join(unknown)}; its options: {hint}")
    chosen, recorded = read_options(entry.options, {**(defaults or {}), **options})
    recorded = {k: v for k, v in recorded.items() if k in options}
    if entry.keywords:
        scheme = entry.builder(model, **{f.name: getattr(chosen, f.name) for f in fields(chosen)})
    else:
        scheme = entry.builder(model, chosen)
    scheme.options = {k: v for k, v in recorded.items() if k not in Scheme.RUN_OPTIONS}
    if model is not None and not scheme.weight_files:
        scheme.weight_files = (Path(model),)
    return scheme
