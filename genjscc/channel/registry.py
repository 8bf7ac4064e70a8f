"""The channel registry: one spec string names any channel, with options and impairment stages.

A spec is ``[STAGE[:key=value,...]+]CHANNEL[:key=value,...]`` (``CHANNELS``, ``STAGES``); option
values take the type of the factory's default. Every command and trainer builds its channel
here, so a channel added to ``CHANNELS`` works everywhere with no special case.
"""

from __future__ import annotations

import inspect

from genjscc.channel import AWGN, BlockRayleigh, Channel, Equalizer, FastRayleigh
from genjscc.channel.base import check_csi
from genjscc.channel.impairments import Clip, Impaired, PhaseNoise, Rician
from genjscc.channel.ofdm import OFDMGrid, OFDMMultipath

__all__ = ["CHANNELS", "STAGES", "build_channel"]


def _ofdm(family: str, model: str):
    """Registry entry of one 3GPP OFDM channel (Sionna is imported when the channel first runs)."""

    def build(*, csi: str = "mmse", estimator: str = "ls", delay_spread: float = 300e-9, speed: float = 3.0,
              carrier_frequency: float = 3.5e9, clip_db: float | None = None, fft_size: int = 72,
              subcarrier_spacing: float = 30e3, cyclic_prefix: int = 6) -> Channel:
        grid = OFDMGrid(fft_size=fft_size, subcarrier_spacing=subcarrier_spacing, cyclic_prefix=cyclic_prefix)
        return OFDMMultipath(family=family, model=model, delay_spread=delay_spread, speed=speed,
                             carrier_frequency=carrier_frequency, estimator=estimator, csi=csi, clip_db=clip_db,
                             grid=grid)

    return build


#: Channel registry: name -> factory whose keyword parameters are the options of a channel spec.
CHANNELS = {
    "awgn": AWGN,
    "rayleigh": BlockRayleigh,
    "block-rayleigh": BlockRayleigh,
    "fast-rayleigh": FastRayleigh,
    "rician": Rician,
    **{f"ofdm-{family}-{m.lower()}": _ofdm(family, m) for family in ("tdl", "cdl") for m in "ABCDE"},
}
#: Impairment stages that compose with any channel: ``STAGE[:opts]+...+CHANNEL[:opts]``.
STAGES = {"phase-noise": PhaseNoise, "clip": Clip}


def _parse_part(part: str, registry: dict, what: str, csi: str | None):
    """Build ``name[:key=value,...]`` from ``registry``; option values take the type of their default."""
    name, _, text = part.strip().partition(":")
    key = name.strip().lower()
    if key not in registry:
        raise ValueError(f"unknown {what} {name!r}; choose one of {sorted(registry)}")
    factory = registry[key]
    params = {p.name: p.default for p in inspect.signature(factory).parameters.values() if p.name != "power"}
    options = {}
    if csi is not None and "csi" in params:
        options["csi"] = csi
    for item in filter(None, (t.strip() for t in text.split(","))):
        option, eq, value = item.partition("=")
        option = option.strip().replace("-", "_")
        if not eq or option not in params:
            raise ValueError(f"{what} {key}: bad option {item!r}; write {key}:OPTION=VALUE,... with OPTION one of "
                             f"{sorted(params) or 'none'}")
        default = params[option]
        cast = float if default is None or isinstance(default, float) else type(default)
        try:
            options[option] = cast(value.strip())
        except ValueError:
            raise ValueError(f"{what} {key}: option {option} needs a {cast.__name__}, got {value!r}") from None
    return factory(**options)


def build_channel(name: str, csi: Equalizer = "mmse") -> Channel:
    """Channel from a spec ``[STAGE[:opts]+...+]CHANNEL[:key=value,...]`` (see ``CHANNELS``, ``STAGES``).

    Examples: ``awgn``, ``rayleigh``, ``rician:k_db=10``, ``ofdm-tdl-c:estimator=ls,speed=30``,
    ``clip:level_db=3+phase-noise:std_deg=2+awgn``. ``csi`` (mmse | zf | none) is the equaliser of
    fading channels unless the spec sets ``csi=``. Unknown names or options raise ``ValueError``.
    """
    check_csi(csi)
    *stage_parts, channel_part = name.split("+")
    channel = _parse_part(channel_part, CHANNELS, "channel", csi)
    if not stage_parts:
        return channel
    return Impaired(channel, [_parse_part(p, STAGES, "impairment stage", None) for p in stage_parts])
