"""What the ILO solver keeps while it runs: the best iterate per image, and a progress bar."""

from __future__ import annotations

import contextlib
import math
from typing import Callable

import torch
from torch import Tensor

__all__ = ["BestIterate", "progress_reporter"]


class BestIterate:
    """Per image, the tensors of the iterate with the lowest criterion seen so far.

    ``update(crit [N], name=tensor [N, ...] or list of them)`` replaces image n's stored
    tensors where ``crit[n]`` improves on its best; ``best[name]`` reads them back (None if never
    given). Everything is detached and cloned, so later in-place steps leave it alone.
    """

    def __init__(self, n: int, device: torch.device):
        self.crit = torch.full((n,), math.inf, device=device)
        self._store: dict[str, Tensor | list[Tensor]] = {}

    def __getitem__(self, name: str):
        return self._store.get(name)

    @torch.no_grad()
    def update(self, crit: Tensor, **current: Tensor | list[Tensor] | None) -> None:
        crit = crit.detach()
        better = crit < self.crit  # NaN never counts as better
        self.crit = torch.where(better, crit, self.crit)
        for name, value in current.items():
            if value is None:
                continue
            old = self._store.get(name)
            if isinstance(value, list):
                self._store[name] = [_pick(better, v, o) for v, o in zip(value, old or [None] * len(value))]
            else:
                self._store[name] = _pick(better, value, old)


def _pick(better: Tensor, new: Tensor, old: Tensor | None) -> Tensor:
    new = new.detach()
    if old is None:
        return new.clone()
    return torch.where(better.view(-1, *[1] * (new.dim() - 1)), new, old)


def progress_reporter(enabled: bool | Callable[[int, int], None], total: int):
    """A context manager giving ``report(mean_loss, round)``, one call per step.

    ``enabled``: ``True`` draws a rich bar; a callable is called ``enabled(done, total)`` after
    each step (it may raise to stop the solver, e.g. when a user cancels); ``False`` reports nothing.
    """
    if callable(enabled):
        return contextlib.nullcontext(_step_counter(enabled, total))
    if not enabled:
        return contextlib.nullcontext(_ignore)
    return _rich_bar(total)


def _step_counter(callback: Callable[[int, int], None], total: int) -> Callable[[float, int], None]:
    done = 0

    def report(loss: float, round_index: int) -> None:
        nonlocal done
        done += 1
        callback(done, total)

    return report


def _ignore(loss: float, round_index: int) -> None:
    return None


@contextlib.contextmanager
def _rich_bar(total: int):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, transient=True) as bar:
        task = bar.add_task("ILO", total=total)

        def report(loss: float, round_index: int) -> None:
            bar.update(task, advance=1, description=f"ILO round {round_index} loss {loss:.4f}")

        yield report

