"""Checks of command-line input that turn user mistakes into one-line errors (exit 2).

Each check names the option or file and says how to fix it; an internal failure is not
caught here and still shows its traceback. Importing this module does not import torch
(``genjscc --help`` stays fast); :func:`check_device` imports it when it runs.
"""

from __future__ import annotations

import os
from pathlib import Path

from genjscc.cli.app import fail

__all__ = ["check_device", "check_output", "check_at_least"]


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
    return device


def check_at_least(option: str, value: int | None, low: int = 1) -> None:
    if value is not None and value < low:
        raise fail(f"{option} must be at least {low}, got {value}")


def check_output(path: Path, option: str = "-o", inputs: tuple[Path, ...] = ()) -> Path:
    """An output file path whose folder exists and is writable, which is not a folder or an input."""
    path = Path(path)
    if path.is_dir():
        raise fail(f"{option} {path} is a folder; give a file name inside it, e.g. {path / 'out.png'}")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.exists():
        raise fail(f"{option} {path}: the folder {parent} does not exist; create it first")
    if not parent.is_dir():
        raise fail(f"{option} {path}: {parent} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise fail(f"{option} {path}: the folder {parent} is not writable")
    for source in inputs:
        if path.exists() and Path(source).exists() and os.path.samefile(path, source):
            raise fail(f"{option} {path} is the input file; refusing to overwrite it, choose another output name")
    return path
