"""The project's own weight files: safetensors + JSON config + markdown model card.

A model ``NAME`` is three files side by side::

    NAME.safetensors   tensors (the config JSON is also stored in the safetensors metadata)
    NAME.json          {"kind": "deepjscc", "config": {...}, "training": {...}, "metrics": {...}}
    NAME.md            model card: data, exact command, steps, wall time, hardware, metrics

Files are written to a temporary name and renamed, so nothing half-written is left behind.
Pickles are never used for the project's own weights.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path
from typing import Callable

import torch
from safetensors import SafetensorError

from genjscc.utils.atomic import atomic_path, atomic_write_text
from safetensors.torch import load_file, save_file

__all__ = ["save_weights", "load_weights", "read_metadata", "WeightsError", "content_hash", "model_label"]


class WeightsError(ValueError):
    """A weight file is missing, unreadable or of the wrong kind."""


def save_weights(
    path: str | Path, state_dict: dict[str, torch.Tensor], meta: dict, card: str | None = None
) -> Path:
    """Write ``path`` (``.safetensors``) with ``meta`` as its sibling ``.json`` and optional card."""
    path = Path(path)
    if path.suffix != ".safetensors":
        path = path.with_suffix(".safetensors")
    if "kind" not in meta:
        raise ValueError("weight metadata needs a 'kind' (e.g. 'deepjscc')")
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in state_dict.items()}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={"genjscc": json.dumps(meta, sort_keys=True)})
    atomic_write_text(path.with_suffix(".json"), json.dumps(meta, indent=2, sort_keys=True) + "\n")
    if card is not None:
        atomic_write_text(path.with_suffix(".md"), card)
    return path


def load_weights(path: str | Path, kind: str | None = None) -> tuple[dict[str, torch.Tensor], dict]:
    """Read ``(state_dict, meta)``; ``kind`` checks that the file holds the expected model."""
    meta = read_metadata(path)
    if kind is not None and meta.get("kind") != kind:
        raise WeightsError(f"{path} holds a {meta.get('kind')!r} model, expected {kind!r}")
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise WeightsError(f"{path} is not a readable safetensors file: {exc}") from None
    return tensors, meta


def load_model(path: str | Path, kind: str, build: Callable[[dict], torch.nn.Module], name: str) -> torch.nn.Module:
    """A network (eval mode, ``.metadata`` set) from a weight file of ``kind``: ``build(meta["config"])``
    makes it and the tensors load into it; every way this fails is a :class:`WeightsError` naming the file."""
    tensors, meta = load_weights(path, kind=kind)
    try:
        model = build(meta["config"])
    except (KeyError, TypeError, ValueError) as exc:
        raise WeightsError(f"{path}: bad {name} config in its metadata: {exc}") from None
    try:
        model.load_state_dict(tensors)
    except RuntimeError as exc:
        raise WeightsError(f"{path}: tensors do not match the {name} config: {exc}") from None
    model.metadata = meta
    return model.eval()


def read_metadata(path: str | Path) -> dict:
    """The metadata of a weight file (``kind``, ``config``, ...) without reading its tensors."""
    path = Path(path)
    if not path.exists():
        raise WeightsError(f"weight file not found: {path}")
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as fh:
            header = fh.metadata() or {}
    except (SafetensorError, OSError, ValueError) as exc:
        raise WeightsError(f"{path} is not a readable safetensors file: {exc}") from None
    return _metadata(path, header)


def _metadata(path: Path, header: dict) -> dict:
    try:
        if "genjscc" in header:
            meta = json.loads(header["genjscc"])
        elif path.with_suffix(".json").exists():
            meta = json.loads(path.with_suffix(".json").read_text())
        else:
            raise WeightsError(f"{path} has no genjscc metadata and no {path.with_suffix('.json').name} beside it")
    except json.JSONDecodeError as exc:
        raise WeightsError(f"{path}: its genjscc metadata is not valid JSON: {exc}") from None
    if not isinstance(meta, dict):
        raise WeightsError(f"{path}: its genjscc metadata must be a JSON object, got {type(meta).__name__}")
    return meta


CONTENT_HASH_CHARS = 12


def content_hash(paths) -> str:
    """SHA-256 of the bytes of the files ``paths`` in order, as 12 hex digits (``""`` for none).

    The identity of a model in result records and sweep keys: a file rewritten in place (a
    resumed run's ``RUN/model.safetensors``) gets another hash, a copy under another name the same.
    """
    paths = [Path(p) for p in paths]
    if not paths:
        return ""
    digest = hashlib.sha256()
    for path in paths:
        stat = path.stat()
        digest.update(_file_digest(str(path.resolve()), stat.st_size, stat.st_mtime_ns).encode())
    return digest.hexdigest()[:CONTENT_HASH_CHARS]


@lru_cache(maxsize=64)
def _file_digest(path: str, size: int, mtime_ns: int) -> str:
    """SHA-256 of one file (cached while its size and modification time stay the same)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def model_label(path: str | Path) -> str:
    """The name result records give the model in ``path``: the ``name`` in its metadata, else the file
    name, else (for a training run's ``RUN/model.safetensors``) the run's name, i.e. its folder's."""
    path = Path(path)
    meta = read_metadata(path)
    if meta.get("name"):
        return str(meta["name"])
    if path.stem != "model":
        return path.stem
    training = meta.get("training") if isinstance(meta.get("training"), dict) else {}
    return str(training.get("run_name") or path.resolve().parent.name or path.stem)
