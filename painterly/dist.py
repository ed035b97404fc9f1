"""Data-parallel runs under torchrun: who am I, and the process group.

torchrun starts N copies of the command with RANK, WORLD_SIZE and LOCAL_RANK in their
environment; without torchrun a run is rank 0 of 1.  Training joins a process group
(gloo on CPUs, NCCL on GPUs); applying a network over a folder only needs the rank to take
its share of the files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as torch_dist

from .device import pick_device


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """The one process that writes files and shows progress."""
        return self.rank == 0


def world() -> World:
    """This process's place among torchrun's processes (rank 0 of 1 without torchrun)."""
    try:
        return World(int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)),
                     int(os.environ.get("LOCAL_RANK", 0)))
    except ValueError:
        return World()


def device_for(name: str, w: World) -> torch.device:
    """``auto`` under torchrun on a GPU machine means this process's own GPU."""
    if name == "auto" and w.size > 1 and torch.cuda.is_available():
        return torch.device("cuda", w.local_rank % torch.cuda.device_count())
    return pick_device(name)


def init(w: World, device: torch.device) -> None:
    """Join the process group (no-op for a single process)."""
    if w.size > 1 and not torch_dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        torch_dist.init_process_group("nccl" if device.type == "cuda" else "gloo")


def done(w: World) -> None:
    if w.size > 1 and torch_dist.is_initialized():
        torch_dist.destroy_process_group()


def _largest(value: float, w: World, device: torch.device) -> float:
    """The largest of the ranks' ``value``s, on every rank."""
    if w.size == 1:
        return value
    t = torch.tensor([value], device=device)
    torch_dist.all_reduce(t, op=torch_dist.ReduceOp.MAX)
    return float(t.item())


def any_true(flag: bool, w: World, device: torch.device) -> bool:
    """True on every rank if ``flag`` is true on any (e.g. one rank saw Ctrl-C)."""
    return _largest(1.0 if flag else 0.0, w, device) > 0


def from_main(value: int, w: World, device: torch.device) -> int:
    """Rank 0's ``value`` (a count at least 0) on every rank."""
    return int(_largest(float(value) if w.main else 0.0, w, device))


def barrier(w: World) -> None:
    if w.size > 1:
        torch_dist.barrier()


def all_checked(w: World) -> None:
    """Wait until every process has come here (no-op alone): a run that checks before it
    writes (apply's outputs) must not see another process's results as earlier ones.  Joins
    a gloo group for it when no group is there (:func:`done` leaves it)."""
    if w.size == 1:
        return
    if not torch_dist.is_initialized():
        torch_dist.init_process_group("gloo")
    torch_dist.barrier()


def totals(values: list[int], w: World) -> list[int]:
    """The sums of ``values`` over the processes (each process's own alone); after
    :func:`all_checked`."""
    if w.size == 1 or not torch_dist.is_initialized():
        return list(values)
    t = torch.tensor(values, dtype=torch.int64)
    torch_dist.all_reduce(t)
    return [int(v) for v in t.tolist()]
