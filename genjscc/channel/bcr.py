"""Bandwidth compression ratio arithmetic: ``rho = k / n``, ``k`` complex channel uses per image,
``n = 3 H W`` real source values."""

from __future__ import annotations

import math
from fractions import Fraction

__all__ = ["parse_bcr", "bcr_to_channels", "channels_to_bcr", "check_divisible", "latent_grid"]

def parse_bcr(bcr: str | float | Fraction) -> Fraction:
    """Parse a BCR given as ``"1/48"``, ``"0.0208"``, a float or a Fraction."""
    try:
        value = Fraction(bcr).limit_denominator(100_000) if not isinstance(bcr, str) else Fraction(bcr.strip())
    except (ValueError, ZeroDivisionError) as exc:
        raise ValueError(f"cannot read BCR {bcr!r}: write it as a fraction such as 1/48") from exc
    if not 0 < value <= 1:
        raise ValueError(f"BCR must lie in (0, 1], got {value}")
    return value


def latent_grid(height: int, width: int, downsample: int) -> tuple[int, int]:
    """The encoder's latent grid ``(ceil(H/f), ceil(W/f))`` for an H x W image padded up to multiples of f."""
    if height < 1 or width < 1:
        raise ValueError(f"image sides must be at least 1 pixel, got {height}x{width}")
    return -(-height // downsample), -(-width // downsample)


def channels_to_bcr(channels: int, height: int, width: int, downsample: int) -> Fraction:
    """BCR of an encoder with ``channels`` real outputs, counted on the true pixels of an H x W image.

    The image is padded to multiples of f, so the latent grid is ``ceil(H/f) x ceil(W/f)`` and
    ``k = C ceil(H/f) ceil(W/f) / 2`` complex uses carry ``n = 3 H W`` real values:
    ``rho = k / n``, which is ``C / (6 f^2)`` when f divides both sides and slightly more otherwise.
    """
    rows, cols = latent_grid(height, width, downsample)
    return Fraction(channels * rows * cols, 2 * 3 * height * width)


def bcr_to_channels(bcr: str | float | Fraction, height: int, width: int, downsample: int) -> int:
    """Encoder output channels ``C`` that give exactly BCR ``rho`` at H x W.

    ``C = 6 f^2 rho`` must be a whole number and ``C (H/f)(W/f)`` even; otherwise a
    ``ValueError`` names the nearest achievable BCRs.
    """
    rho = parse_bcr(bcr)
    check_divisible(height, width, downsample)
    exact = rho * 6 * downsample * downsample
    grid = (height // downsample) * (width // downsample)
    if exact.denominator == 1 and (exact.numerator * grid) % 2 == 0 and exact.numerator > 0:
        return int(exact.numerator)
    lo = max(1, math.floor(exact))
    candidates = sorted({c for c in (lo - 1, lo, lo + 1, lo + 2) if c >= 1 and (c * grid) % 2 == 0})
    near = ", ".join(str(channels_to_bcr(c, height, width, downsample)) for c in candidates[:3])
    raise ValueError(
        f"BCR {rho} is not reachable at {height}x{width} with downsampling {downsample} "
        f"(needs {float(exact):g} encoder channels); nearest achievable BCRs: {near}"
    )


def check_divisible(height: int, width: int, downsample: int) -> None:
    """Raise ``ValueError`` unless both sides of an H x W image are multiples of ``downsample``."""
    if height % downsample or width % downsample:
        raise ValueError(
            f"image size {height}x{width} is not divisible by the model's downsampling factor "
            f"{downsample}: this model sends images whose sides are multiples of {downsample}; "
            f"crop or pad to a multiple of {downsample}"
        )
