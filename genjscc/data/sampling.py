"""The order in which training items are drawn: an endless, resumable, data-parallel stream."""

from __future__ import annotations

import torch
from torch import Tensor
from torch.utils.data import Sampler

__all__ = ["StreamSampler"]


class StreamSampler(Sampler[int]):
    """An endless stream of dataset indices that can start at any iteration: resumable, and
    split between data-parallel processes by construction.

    Epoch ``e`` is a permutation of ``range(length)`` drawn from a generator seeded by
    ``(seed, e)``; the stream is the concatenation of the epochs. Iteration ``t`` of a run with
    ``W`` processes and ``batch_size`` ``B`` per process uses stream items
    ``[t W B, (t + 1) W B)``, of which process ``r`` takes ``[t W B + r B, t W B + (r + 1) B)``,
    so ``W`` processes see exactly the batch one process with ``W B`` would. ``start_iteration``
    skips the iterations already done (resume). ``W`` and ``r`` are read from
    ``torch.distributed`` when iteration begins (1 and 0 without a process group); the trainer
    must not wrap this sampler in a ``DistributedSampler``.
    """

    def __init__(self, length: int, *, seed: int = 0, start_iteration: int = 0, batch_size: int = 1):
        if length < 1:
            raise ValueError(f"StreamSampler needs a non-empty dataset, got length {length}")
        self.length, self.seed, self.start_iteration, self.batch_size = length, seed, start_iteration, batch_size

    def _epoch(self, epoch: int) -> Tensor:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        return torch.randperm(self.length, generator=g)

    def _stream(self, start: int):
        epoch, offset = divmod(start, self.length)
        while True:
            for index in self._epoch(epoch)[offset:].tolist():
                yield index
            epoch, offset = epoch + 1, 0

    def __iter__(self):
        import torch.distributed as dist

        world, rank = 1, 0
        if dist.is_available() and dist.is_initialized():
            world, rank = dist.get_world_size(), dist.get_rank()
        chunk = self.batch_size * world
        stream = self._stream(self.start_iteration * chunk)
        while True:
            items = [next(stream) for _ in range(chunk)]
            yield from items[rank * self.batch_size : (rank + 1) * self.batch_size]
