"""Data-parallel training under `torchrun`: torch.distributed and DistributedDataParallel, not code of our own.

`torchrun --nproc-per-node N` sets RANK, WORLD_SIZE and LOCAL_RANK (and the rendezvous address); `DataParallel.from_env`
joins the process group (gloo on CPU, NCCL on GPUs). Each rank takes its share of every global batch through a
`DistributedSampler`, DDP averages the gradients, losses are averaged across ranks for the record, and only rank 0
writes checkpoints, history and warehouse rows. Without those variables everything here is a no-op on one process.
"""
from __future__ import annotations

import atexit
import os
import random
from dataclasses import dataclass
from datetime import timedelta
from typing import Iterator, Sequence, TypeVar

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DistributedSampler

T = TypeVar("T")


def is_main_process() -> bool:
    """Rank 0 of a torchrun launch, or a plain process: the one that may write checkpoints and warehouse rows.
    Reads torchrun's RANK, so it answers before (and without) joining the process group."""
    return int(os.environ.get("RANK", "0")) == 0


def _leave_process_group() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


class DistributedSetupError(ValueError):
    """The torchrun environment or the training settings cannot run data-parallel; the message says which."""


def epoch_order(n: int, seed: int, epoch: int, batch_size: int = 1, lengths: Sequence[int] | None = None,
                pool: int = 0) -> list[int]:
    """The epoch's order of item indices: a shuffle seeded by `seed * 1000 + epoch`, bucketed by length when asked.

    Bucketing (`pool` > 0 with `lengths`): the shuffled order's full batches are taken `pool` batches at a time,
    each pool sorted by length (stably) and cut into batches of `batch_size`, and then all those batches are
    shuffled by the same generator; the last, partial batch (n % batch_size items of the shuffle) stays last, so
    every batch but the last is full, as without bucketing. Every item appears exactly once, and the order
    depends only on (n, seed, epoch, batch_size, lengths, pool): a resumed run sees the same batches.
    """
    rng = random.Random(seed * 1000 + epoch)
    order = list(range(n))
    rng.shuffle(order)
    if pool <= 0 or lengths is None or batch_size <= 1 or n <= batch_size:
        return order
    if len(lengths) != n:
        raise ValueError(f"epoch_order: {len(lengths)} lengths for {n} items")
    full = n - n % batch_size
    span = pool * batch_size
    batches: list[list[int]] = []
    for start in range(0, full, span):
        chunk = sorted(order[start : min(start + span, full)], key=lambda i: lengths[i])
        batches.extend(chunk[k : k + batch_size] for k in range(0, len(chunk), batch_size))
    rng.shuffle(batches)
    return [i for b in batches for i in b] + order[full:]


class EpochSampler(DistributedSampler):
    """A DistributedSampler whose order is the trainer's seeded shuffle (`epoch_order`: `random.Random(seed * 1000
    + epoch)`, bucketed by length when `lengths` and `pool` are given, in global batches of `batch_size`).

    Rank r takes positions r, r + W, r + 2W, ... of that order (padded like DistributedSampler), so the ranks'
    k-th local batches of size B/W together are exactly positions [kB, (k+1)B): the global batch one process
    with batch size B would take. With one replica it is the single-process order unchanged.
    """

    def __init__(self, n: int, num_replicas: int, rank: int, seed: int, batch_size: int = 1,
                 lengths: Sequence[int] | None = None, pool: int = 0) -> None:
        super().__init__(range(n), num_replicas=num_replicas, rank=rank, shuffle=True, seed=seed, drop_last=False)
        self.n = n
        self.batch_size = batch_size
        self.lengths = lengths
        self.pool = pool

    def __iter__(self) -> Iterator[int]:
        order = epoch_order(self.n, self.seed, self.epoch, self.batch_size, self.lengths, self.pool)
        order += order[: self.total_size - len(order)]
        return iter(order[self.rank : self.total_size : self.num_replicas])


@dataclass(frozen=True)
class DataParallel:
    """This process's place in a data-parallel run: rank, world size, local rank, backend."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None

    @classmethod
    def from_env(cls, device: torch.device | None = None, timeout_s: float = 1800.0) -> "DataParallel":
        """Read torchrun's variables and join the process group once (idempotent); one process without them."""
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return cls()
        try:
            rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
        except (KeyError, ValueError) as err:
            raise DistributedSetupError(f"WORLD_SIZE={world} but RANK is missing or not a number: start with torchrun") from err
        use_cuda = device.type == "cuda" if device is not None else torch.cuda.is_available()
        backend = "nccl" if use_cuda else "gloo"
        if use_cuda:
            torch.cuda.set_device(local_rank)
        if not dist.is_initialized():
            dist.init_process_group(backend, timeout=timedelta(seconds=timeout_s))
            atexit.register(_leave_process_group)
        return cls(rank, world, local_rank, backend)

    @property
    def active(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that writes checkpoints, history, reports and warehouse rows."""
        return self.rank == 0

    def device(self, wanted: torch.device) -> torch.device:
        """The rank's own GPU (cuda:LOCAL_RANK) when training on CUDA; the wanted device otherwise."""
        if self.active and wanted.type == "cuda":
            return torch.device("cuda", self.local_rank)
        return wanted

    def local_batch_size(self, global_batch_size: int) -> int:
        if global_batch_size % self.world_size:
            raise DistributedSetupError(
                f"batch_size {global_batch_size} is the global batch: it must divide by the {self.world_size} processes")
        return global_batch_size // self.world_size

    def batches(self, items: Sequence[T], global_batch_size: int, seed: int, epoch: int,
                lengths: Sequence[int] | None = None, pool: int = 0) -> list[list[T]]:
        """This rank's share of each global batch of the epoch, in the order one process would see them.

        With `lengths` and `pool` > 0 the global batches are bucketed by length (`epoch_order`); a rank's local
        batches are still its share of the same global batches."""
        size = self.local_batch_size(global_batch_size)
        sampler = EpochSampler(len(items), self.world_size, self.rank, seed, global_batch_size, lengths, pool)
        sampler.set_epoch(epoch)
        mine = [items[i] for i in sampler]
        return [mine[k : k + size] for k in range(0, len(mine), size)]

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        """The module to call for training steps: DDP over `model` when data-parallel, `model` itself otherwise.
        Save and evaluate the unwrapped `model`."""
        if not self.active:
            return model
        on_gpu = next(model.parameters()).device.type == "cuda"
        return DistributedDataParallel(model, device_ids=[self.local_rank] if on_gpu else None,
                                       find_unused_parameters=True)

    def weighted_mean(self, values: dict[str, float], weight: float) -> dict[str, float]:
        """Each value averaged over all ranks, weighted by `weight` (a rank's sentences in the step)."""
        if not self.active:
            return values
        keys = sorted(values)
        t = torch.tensor([values[k] * weight for k in keys] + [weight], dtype=torch.float64)
        if self.backend == "nccl":
            t = t.cuda()
        dist.all_reduce(t)
        t = t.cpu()
        return {k: float(t[i] / t[-1]) for i, k in enumerate(keys)}

    def barrier(self) -> None:
        if self.active:
            dist.barrier()

    def shutdown(self) -> None:
        """Leave the process group now (from_env also arranges this at interpreter exit)."""
        if self.active:
            _leave_process_group()
