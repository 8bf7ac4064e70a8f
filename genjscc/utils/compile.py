"""``torch.compile`` where it works, eager where it does not: one switch for training and evaluation.

:func:`compile_forward` replaces ``module.forward`` by a compiled version in place, so the
module keeps its parameters, state-dict keys, hooks and ``.to()`` behaviour. Compiling needs
a working backend (Inductor: a C++ compiler on CPU, Triton on CUDA); where the first compiled
call fails for any reason that eager execution does not share, the module goes back to its
eager ``forward`` for good and one warning names the module and the reason. An error that
eager execution raises too (a wrong input shape, say) is raised as eager raises it.

Compile a module *after* any ``copy.deepcopy`` of it (an EMA copy, say): the replaced
``forward`` is bound to the module it was made for.

On CPU a compiled transmit of the shipped DeepJSCC and GenerativeJSCC is only slightly faster
than eager, after seconds of compiling, so it pays on long evaluations and training runs only
(figures: ``benchmarks/README.md``, ``compile_speed.py``).
Compiling the channel itself does not pay: Inductor has no code generation for complex
tensors, so the models compile their real-valued networks only
(``compile_networks()``).
"""

from __future__ import annotations

import os
import warnings
from typing import Callable

import torch
from torch import nn

__all__ = ["compile_forward", "eager_forward", "is_compiled"]

_EAGER = "_genjscc_eager_forward"


def is_compiled(module: nn.Module) -> bool:
    """Whether ``module.forward`` is currently the compiled one (False after a fallback)."""
    return _EAGER in module.__dict__


def eager_forward(module: nn.Module) -> Callable:
    """The module's eager ``forward`` (for what compile cannot trace, e.g. the double backward of R1)."""
    return module.__dict__.get(_EAGER, module.forward)


def compile_forward(module: nn.Module, name: str | None = None, **options) -> nn.Module:
    """Compile ``module.forward`` in place with ``torch.compile(**options)``; returns ``module``.

    Calling it twice is a no-op. Set ``GENJSCC_NO_COMPILE=1`` to keep every module eager
    (same as not asking for compile).
    """
    if is_compiled(module) or os.environ.get("GENJSCC_NO_COMPILE") == "1":
        return module
    label = name or type(module).__name__
    eager = module.forward
    compiled = torch.compile(eager, **options)

    def forward(*args, **kwargs):
        try:
            return compiled(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - decided below by running eagerly
            out = eager(*args, **kwargs)  # a genuine error of the module is raised here, as in eager mode
            _fall_back(module, label, exc)
            return out

    module.__dict__[_EAGER] = eager
    module.forward = forward
    return module


def _fall_back(module: nn.Module, label: str, exc: Exception) -> None:
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    module.forward = module.__dict__.pop(_EAGER)
    warnings.warn(f"torch.compile failed for {label} ({type(exc).__name__}: {reason[:300]}); running it eagerly. "
                  "Compiling needs a C++ compiler on CPU (gcc) or Triton on CUDA; drop --compile to silence this.",
                  RuntimeWarning, stacklevel=3)
