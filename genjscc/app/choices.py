"""What the page offers: schemes with their options, channels, held-out photos, image sizes.

Everything is read from the registries (zoo, schemes, channels, codecs, links, the photo
split), so a model, scheme or channel registered once appears on the page. A request names a
scheme by ``spec`` (what :func:`genjscc.schemes.build_scheme` takes) and picks each option
from the values listed here; :func:`checked_scheme_request` refuses anything else, so the page
cannot make the server open arbitrary files.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

__all__ = [
    "Option", "SchemeChoice", "scheme_choices", "channel_names", "photo_names", "SIZES", "NATIVE", "NATIVE_MAX_PIXELS",
    "CSI_MODES",
    "checked_scheme_request", "choices_document",
]

NATIVE = "native"  # the whole image at its own H x W (DeepJSCC and separation; not the generative schemes)
SIZES = (32, 64, 128, 256, NATIVE)  # S x S crops the page offers (the shipped models take 64), and native
NATIVE_MAX_PIXELS = 2**22  # largest image the page sends whole (2048 x 2048): larger ones take a while on a CPU
CSI_MODES = ("mmse", "zf", "none")
SEPARATION_BCRS = ("1/12", "1/24", "1/48", "1/96", "1/192")
STEP_LIMIT = 1000  # most ILO steps a request may ask for


@dataclass(frozen=True)
class Option:
    """A scheme option: one of ``values`` (the first is the default), or a whole number in [low, high]."""

    name: str
    label: str
    values: tuple[str, ...] = ()
    low: int | None = None
    high: int | None = None
    default: str = ""

    def check(self, value) -> str:
        """``value`` as the text the scheme builder takes; ``ValueError`` naming the allowed values."""
        text = str(value).strip()
        if self.values:
            if text not in self.values:
                raise ValueError(f"{self.label}: {text!r} is not offered; choose one of {', '.join(self.values)}")
            return text
        try:
            number = int(text)
        except ValueError:
            raise ValueError(f"{self.label} must be a whole number, got {text!r}") from None
        if not self.low <= number <= self.high:
            raise ValueError(f"{self.label} must lie in {self.low}..{self.high}, got {number}")
        return str(number)


@dataclass(frozen=True)
class SchemeChoice:
    spec: str  # zoo name or scheme kind, as build_scheme takes it
    kind: str
    description: str
    options: tuple[Option, ...] = field(default_factory=tuple)


def scheme_choices() -> list[SchemeChoice]:
    """Every zoo model whose kind is a scheme, the separation baseline and InverseJSCC."""
    from genjscc.schemes import SCHEMES
    from genjscc.separation import CODECS, LINKS
    from genjscc.zoo import ZOO

    models = [e for e in ZOO.values() if e.kind in SCHEMES and e.path.exists()]
    choices = [SchemeChoice(e.name, e.kind, e.description) for e in models]
    codecs = tuple(sorted(CODECS, key=lambda c: c != "webp"))  # WebP first: the best codec that is fast at 64x64
    choices.append(SchemeChoice("separation", "separation", "codec + channel code at a chosen BCR", (
        Option("codec", "codec", codecs, default=codecs[0]),
        Option("bcr", "BCR", SEPARATION_BCRS, default=SEPARATION_BCRS[0]),
        Option("code", "channel code", tuple(LINKS), default=tuple(LINKS)[0]),
    )))
    jsccs = tuple(e.name for e in models if e.kind == "deepjscc")
    if jsccs and any(e.kind == "stylegan2" and e.path.exists() for e in ZOO.values()):
        choices.append(SchemeChoice("inverse", "inverse", "InverseJSCC: a DeepJSCC, then ILO on the StyleGAN2 prior", (
            Option("jscc", "DeepJSCC", jsccs, default=next((j for j in jsccs if j.endswith("1_48")), jsccs[0])),
            Option("steps", "ILO steps", low=1, high=STEP_LIMIT, default="50"),
        )))
    return choices


def channel_names() -> list[str]:
    """The channels a user may pick: one name per registered channel (aliases left out)."""
    from genjscc.channel.registry import CHANNELS

    seen, names = set(), []
    for name, cls in CHANNELS.items():
        if cls not in seen:
            seen.add(cls)
            names.append(name)
    return names


def photo_names() -> list[str]:
    """The held-out photographs (whole images of the ``photos`` test split), e.g. ``chelsea``."""
    from genjscc.data import PHOTO_SPLIT

    return [photo_label(name) for name in PHOTO_SPLIT["test"]]


def photo_label(name: str) -> str:
    """``skimage:chelsea.png`` -> ``chelsea``."""
    return name.split(":", 1)[1].rsplit(".", 1)[0]


def checked_scheme_request(entry, choices: list[SchemeChoice]) -> tuple[str, dict[str, str]]:
    """``{"spec": ..., "options": {...}}`` from a request -> (spec, options); ``ValueError`` if not offered."""
    if not isinstance(entry, dict) or not isinstance(entry.get("spec"), str):
        raise ValueError("each scheme is {spec: NAME, options: {...}}")
    by_spec = {c.spec: c for c in choices}
    choice = by_spec.get(entry["spec"])
    if choice is None:
        raise ValueError(f"scheme {entry['spec']!r} is not offered; choose one of {', '.join(by_spec)}")
    given = entry.get("options") or {}
    if not isinstance(given, dict):
        raise ValueError(f"{choice.spec}: options must be a mapping")
    known = {o.name: o for o in choice.options}
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise ValueError(f"{choice.spec} has no option {', '.join(unknown)}; its options: {', '.join(known) or 'none'}")
    return choice.spec, {name: o.check(given.get(name, o.default)) for name, o in known.items()}


def choices_document() -> dict:
    """What ``GET /api/choices`` returns: the page builds its controls from it."""
    return {
        "schemes": [asdict(c) for c in scheme_choices()],
        "channels": channel_names(),
        "csi": list(CSI_MODES),
        "photos": photo_names(),
        "sizes": list(SIZES),
        "default_size": 64,
    }
