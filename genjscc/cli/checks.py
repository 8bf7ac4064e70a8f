"""Checks of command-line input that turn user mistakes into one-line errors (exit 2).

Each check names the option or file and says how to fix it; an internal failure is not
caught here and still shows its traceback. Importing this module does not import torch
(``genjscc --help`` stays fast); :func:`check_device` imports it when it runs.
"""

from __future__ import annotations

import os
from pathlib import Path

from genjscc.cli.app import fail
from genjscc.evaluation.records import RECORD_SUFFIXES

__all__ = ["check_device", "check_output", "check_output_folder", "check_at_least", "FIGURE_SUFFIXES",
           "RECORD_SUFFIXES", "image_suffixes", "SIZE_HELP"]

SIZE_HELP = ("S (a side in pixels, a multiple of 8): S x S test crops; or native: every test image whole at its own "
             "H x W, nothing cropped or resized (photos: the 3 held-out photographs; folder:PATH: each test image; "
             "networks pad to their stride and crop back)")


def check_device(device: str) -> str:
    """A torch device string that exists on this machine."""
    import torch

    try:
        parsed = torch.device(device)
    except (RuntimeError, ValueError):
        raise fail(f"--device {device!r} is not a torch device; use cpu, cuda or cuda:N") from None
    if parsed.type == "cuda" and not torch.cuda.is_available():
        raise fail(f"--device {device}: no CUDA GPU is available here; use --device cpu")
    if parsed.type == "cuda" and parsed.index is not None and parsed.index >= torch.cuda.device_count():
        raise fail(f"--device {device}: this machine has {torch.cuda.device_count()} GPU(s)")
    if parsed.type == "mps" and not torch.backends.mps.is_available():
        raise fail(f"--device {device}: MPS is not available here; use --device cpu")
    if parsed.type not in ("cpu", "cuda", "mps"):
        raise fail(f"--device {device}: genjscc runs on cpu, cuda or mps devices, not {parsed.type}")
    return device


def check_at_least(option: str, value: int | None, low: int = 1) -> None:
    if value is not None and value < low:
        raise fail(f"{option} must be at least {low}, got {value}")


FIGURE_SUFFIXES = (".png", ".pdf", ".svg")


def image_suffixes() -> tuple[str, ...]:
    """File suffixes Pillow can write (``.png``, ``.jpg``, ``.webp``, ...)."""
    from PIL import Image

    Image.init()
    return tuple(sorted(ext for ext, fmt in Image.registered_extensions().items() if fmt in Image.SAVE))


def _nearest_existing(path: Path) -> Path:
    for folder in path.parents:
        if folder.exists():
            return folder
    return Path(".")


def _check_writable_folder(folder: Path, option: str, path: Path) -> None:
    """Create and remove a file in ``folder``: the one test that holds for root, read-only mounts and /proc."""
    probe = folder / f".genjscc-write-test-{os.getpid()}"
    try:
        fd = os.open(probe, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except OSError as exc:
        raise fail(f"{option} {path}: cannot write in {folder} ({exc.strerror or exc}); choose another place") from None
    os.close(fd)
    probe.unlink(missing_ok=True)


def check_output(path: Path, option: str = "-o", inputs: tuple[Path, ...] = (), *,
                 suffixes: tuple[str, ...] | None = None, make_folder: bool = False) -> Path:
    """The one check of every file a command writes, run before any computation.

    The path must not be a folder or one of ``inputs``, must end in one of ``suffixes`` (when
    given), and its folder must exist (or, with ``make_folder``, be creatable: the nearest
    existing folder above it) and accept a new file. Each failure is a one-line error naming
    ``option`` and the fix.
    """
    path = Path(path)
    if path.is_dir():
        example = path / ("out" + (suffixes or (".png",))[0])
        raise fail(f"{option} {path} is a folder; give a file name inside it, e.g. {example}")
    if suffixes is not None and path.suffix.lower() not in suffixes:
        raise fail(f"{option} {path}: write a {', '.join(suffixes[:-1])} or {suffixes[-1]} file"
                   if len(suffixes) > 1 else f"{option} {path}: write a {suffixes[0]} file")
    parent = path.parent if str(path.parent) else Path(".")
    existing = parent if parent.exists() else _nearest_existing(parent)
    if not existing.is_dir():
        raise fail(f"{option} {path}: {existing} is a file, not a folder")
    if existing != parent and not make_folder:
        raise fail(f"{option} {path}: the folder {parent} does not exist; create it first")
    _check_writable_folder(existing, option, path)
    for source in inputs:
        if path.exists() and Path(source).exists() and os.path.samefile(path, source):
            raise fail(f"{option} {path} is the input file; refusing to overwrite it, choose another output name")
    return path


def check_output_folder(path: Path, option: str = "--out") -> Path:
    """A folder a command writes into: an existing folder, or one that can be created there."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise fail(f"{option} {path} is a file, not a folder; choose another {option}")
    existing = path if path.exists() else _nearest_existing(path)
    if not existing.is_dir():
        raise fail(f"{option} {path}: {existing} is a file, not a folder")
    _check_writable_folder(existing, option, path)
    return path
