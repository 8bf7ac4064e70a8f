"""Schemes: every way of sending an image, behind one call (see :mod:`genjscc.schemes.base`).

Built-ins: ``deepjscc`` and ``generative`` (:mod:`.network`, a trained DeepJSCC or GenerativeJSCC),
``inverse`` (:mod:`.inverse`, DeepJSCC + ILO on a StyleGAN2 prior) and ``separation``
(:mod:`.separation`, codec + channel code); the last two are imported when first asked for
(:data:`~genjscc.schemes.base.LAZY_SCHEMES`). :func:`build_scheme` accepts a scheme kind
(``"separation"``), a zoo name or a weight path (the kind is read from the file)::

    build_scheme("deepjscc-64-bcr1_48")
    build_scheme("separation", codec="webp", code="ldpc", mcs="best", bcr="1/12")

Each kind declares its options as a dataclass (:mod:`.options`); ``scheme.transmit`` returns a
:class:`Transmission` (reconstructions, the stages it can report, per-image figures).
"""

from __future__ import annotations

from pathlib import Path

from genjscc.schemes import network as _network  # noqa: F401  registers "deepjscc" and "generative"
from genjscc.schemes.base import (
    ENTRY_POINT_GROUP,
    LAZY_SCHEMES,
    SCHEMES,
    Scheme,
    SchemeBuilder,
    Stage,
    Transmission,
    build_from_registry,
    register_scheme,
    scheme_entry,
    scheme_kinds,
    scheme_option_fields,
)
from genjscc.utils.weights import read_metadata
from genjscc.zoo import ZOO, resolve_model

__all__ = [
    "Scheme", "Transmission", "Stage", "SCHEMES", "SchemeBuilder", "register_scheme", "build_scheme", "scheme_entry", "scheme_kinds",
    "scheme_option_fields", "scheme_kind", "build_scheme_for_data", "ENTRY_POINT_GROUP",
]


def scheme_kind(spec: str) -> tuple[str, Path | None]:
    """(kind, weight path or None) of a scheme kind, zoo name or weight path."""
    if spec not in ZOO and (spec in SCHEMES or spec in LAZY_SCHEMES or not Path(spec).expanduser().exists()):
        try:
            scheme_entry(spec)  # a registered kind, or one an entry point provides
            return spec, None
        except ValueError:
            pass  # not a kind: resolve_model below says what is missing
    path = resolve_model(spec)
    kind = str(read_metadata(path).get("kind"))
    try:
        scheme_entry(kind)
    except ValueError:
        raise ValueError(
            f"{path} holds a {kind!r} model, which is not a transmission scheme ({', '.join(scheme_kinds())})"
        ) from None
    return kind, path


def build_scheme(spec: str, **options) -> Scheme:
    """A scheme from a kind (``separation``), a zoo name or a weight path, with keyword options."""
    kind, path = scheme_kind(spec)
    return build_from_registry(kind, path, options)


def build_scheme_for_data(spec: str, data: str, options: dict) -> Scheme:
    """:func:`build_scheme` for a command that evaluates on the data spec ``data``: options that follow the
    evaluated data (separation's ``training_data``) default to ``data`` where not given. Such a default is
    not one of the recorded options: a record names its data already."""
    kind, path = scheme_kind(spec)
    follows = {name: data for name, option in scheme_option_fields(kind).items() if option.follows_data}
    return build_from_registry(kind, path, options, defaults=follows)
