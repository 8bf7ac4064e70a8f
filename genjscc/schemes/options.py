"""Scheme options declared once, as a dataclass: names, types, defaults and help.

A scheme kind registers its options dataclass beside its builder
(``@register_scheme("separation", SeparationOptions)``); the builder receives one instance. The
dataclass's fields are the options that ``build_scheme(kind, name=value)``, ``--set name=value``,
``--config`` and sweep configurations reach. A field whose type is itself a dataclass contributes
that dataclass's fields under their own names (InverseJSCC's solver settings are
:class:`~genjscc.inversion.ILOSettings`, so ``--set steps=50,50`` sets ``options.ilo.steps``), so a
settings class is never repeated field by field.

Values arrive as Python values or as text (``--set lr=0.1`` is read as YAML, an app form sends
text); :func:`read_options` reads each as its field's type (``"0.1"`` -> 0.1 for a ``float``,
``"50,50"`` -> (50, 50) for a ``tuple[int, ...]``) or raises a ``ValueError`` naming the option and
what it takes.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import MISSING, dataclass, field, fields, is_dataclass

__all__ = ["OptionField", "scheme_option", "option_fields", "read_options", "keyword_options", "parse_flag"]

_NONE = type(None)


def scheme_option(default=MISSING, *, help: str, default_factory=MISSING, follows_data: bool = False):
    """A dataclass field declaring a scheme option with its ``help`` text.

    ``follows_data``: the option names a data spec and, where a command evaluates on a data set
    (``evaluate --data``, ``grid --data``, a sweep's ``data``), defaults to that data set unless given.
    """
    metadata = {"help": help, "follows_data": follows_data}
    if default_factory is not MISSING:
        return field(default_factory=default_factory, metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class OptionField:
    """One scheme option as the user names it: ``--set NAME=VALUE``."""

    name: str
    type: object  # the field's annotation, e.g. float, tuple[int, ...], str | None
    default: object  # dataclasses.MISSING when the option is required
    help: str
    path: tuple[str, ...]  # attribute path in the options dataclass: ("ilo", "steps")
    follows_data: bool = False


def option_fields(options_class: type) -> dict[str, OptionField]:
    """Every option of ``options_class``, nested dataclass fields flattened under their own names."""
    out: dict[str, OptionField] = {}
    _collect(options_class, (), out)
    return out


def _collect(cls: type, path: tuple[str, ...], out: dict[str, OptionField]) -> None:
    hints = typing.get_type_hints(cls)
    for f in fields(cls):
        hint = hints[f.name]
        if is_dataclass(hint):
            _collect(hint, (*path, f.name), out)
            continue
        if f.name in out:
            raise TypeError(f"{cls.__name__}.{f.name} repeats option {f.name} of {'.'.join(out[f.name].path)}")
        default = f.default if f.default is not MISSING else (
            f.default_factory() if f.default_factory is not MISSING else MISSING)
        out[f.name] = OptionField(f.name, hint, default, f.metadata.get("help", ""), (*path, f.name),
                                  bool(f.metadata.get("follows_data", False)))


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


def _arms(hint) -> tuple:
    """The alternatives of a union annotation (``str | None`` -> (str, NoneType)); else (hint,)."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return typing.get_args(hint)
    return (hint,)


def _sequence_item(hint) -> type | None:
    """``int`` for ``tuple[int, ...]`` (or ``tuple[int, ...] | None``); None for other annotations."""
    for arm in _arms(hint):
        if typing.get_origin(arm) is tuple:
            return typing.get_args(arm)[0]
    return None


def _given_as(name: str, value, hint):
    """``value`` as the option's scalar type asks when it is text the option cannot take as it is
    (``"0.1"`` -> 0.1 for a float), a whole number for a float option as a float; else as given.
    This is also what a record keeps of the option (its identity)."""
    allowed = tuple(a for a in _arms(hint) if isinstance(a, type))
    if isinstance(value, str) and allowed and str not in allowed:
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


def _sequence(name: str, value, item: type) -> tuple | None:
    """``"50,50"``, ``[50, 50]`` or ``50`` -> ``(50, 50)`` / ``(50,)`` for a ``tuple[item, ...]`` option."""
    if value is None:
        return None
    parts = value.split(",") if isinstance(value, str) else value if isinstance(value, (list, tuple)) else [value]
    try:
        return tuple(item(p) if not isinstance(p, str) else item(p.strip()) for p in parts)
    except (TypeError, ValueError):
        words, example = ("whole numbers", "50,50") if item is int else ("numbers", "100,1000,6000")
        raise ValueError(f"{name} must be {words} such as {example} (comma-separated), got {value!r}") from None


def _value(option: OptionField, value):
    """The value the options dataclass holds: text read as the type, a sequence as a tuple."""
    item = _sequence_item(option.type)
    if item is not None:
        return _sequence(option.name, value, item)
    arms = _arms(option.type)
    if value is None and _NONE in arms:
        return None
    if bool in arms:
        return parse_flag(value, option.name)
    if arms == (int,) and isinstance(value, float) and value.is_integer():
        return int(value)
    if arms == (int,) and (isinstance(value, bool) or not isinstance(value, int)):
        raise ValueError(f"scheme option {option.name} takes a whole number, got {value!r}")
    if arms == (float,) and (isinstance(value, bool) or not isinstance(value, (int, float))):
        raise ValueError(f"scheme option {option.name} takes a number, got {value!r}")
    if set(arms) <= {str, _NONE}:
        return str(value)  # None was handled above
    return value


def read_options(options_class: type, given: dict) -> tuple[object, dict]:
    """``(instance of options_class, the given options as recorded)`` from ``{name: value}``.

    Every name must be an option of ``options_class`` (the registry checks that first, to name the
    scheme); missing ones take the field's default. The recorded form keeps each value as given,
    text read as a scalar option's type, for a record's identity.
    """
    known = option_fields(options_class)
    recorded = {name: value if _sequence_item(known[name].type) else _given_as(name, value, known[name].type)
                for name, value in given.items()}
    values: dict[tuple[str, ...], dict] = {}
    for name, value in recorded.items():
        option = known[name]
        values.setdefault(option.path[:-1], {})[option.path[-1]] = _value(option, value)
    return _build(options_class, (), values), recorded


def _build(cls: type, path: tuple[str, ...], values: dict[tuple[str, ...], dict]):
    hints = typing.get_type_hints(cls)
    own = dict(values.get(path, {}))
    for f in fields(cls):
        if is_dataclass(hints[f.name]) and any(p[: len(path) + 1] == (*path, f.name) for p in values):
            own[f.name] = _build(hints[f.name], (*path, f.name), values)
    return cls(**own)


def keyword_options(name: str, builder) -> type:
    """An options dataclass made from a builder's keyword-only parameters (third-party builders
    written as ``build(model, *, level: float = 0.5)``); annotations that do not resolve are ``Any``."""
    import inspect

    try:
        hints = typing.get_type_hints(builder)
    except (NameError, TypeError):
        hints = {}
    spec = []
    for p in inspect.signature(builder).parameters.values():
        if p.kind is not p.KEYWORD_ONLY:
            continue
        hint = hints.get(p.name, typing.Any)
        spec.append((p.name, hint, field(default=p.default) if p.default is not p.empty else field()))
    return dataclasses.make_dataclass(name, spec, frozen=True, kw_only=True)
