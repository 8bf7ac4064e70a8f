"""What the ILO solver keeps while it runs: the best iterate per image, and a progress bar."""

from __future__ import annotations

import contextlib
import math
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


def progress_reporter(enabled: bool, total: int):
    """A context manager giving ``report(mean_loss, round)``, one call per step; a rich bar when enabled."""
    if not enabled:
        return contextlib.nullcontext(_ignore)
    return _rich_bar(total)


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

