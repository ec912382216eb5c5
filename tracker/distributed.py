"""Which process this is, and the two collectives a capture needs (gather to the writer, broadcast from it).

The one place that decides which process writes. The caller says what it knows: the Trainer callback passes
``args.process_index`` and ``args.world_size`` (and writes only where ``state.is_world_process_zero``); the seed's
calls pass nothing, and then an initialised ``torch.distributed`` process group is asked, if torch is loaded at all.
Process 0 writes; every process evaluates its shard ``examples[rank::world_size]``.

Importing this module does not import torch: the collectives import it when there is more than one process.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ProcessRole:
    """This process's place in the job: ``rank`` of ``world_size``; process 0 is the one that writes files."""

    rank: int = 0
    world_size: int = 1

    @property
    def is_writer(self) -> bool:
        return self.rank == 0

    @property
    def is_distributed(self) -> bool:
        return self.world_size > 1

    def shard(self, items: list[Any]) -> list[Any]:
        """This process's share of ``items``: every ``world_size``-th one, from ``rank``."""
        return items[self.rank :: self.world_size]


SINGLE_PROCESS = ProcessRole()


def process_role(rank: int | None = None, world_size: int | None = None) -> ProcessRole:
    """The role from what the caller knows; else from an initialised torch.distributed group; else one process.

    Trainer callers pass ``args.process_index`` and ``args.world_size``. Without them, torch is not imported
    here: if the program has not loaded ``torch.distributed``, no process group can exist.
    """
    if rank is not None or world_size is not None:
        return ProcessRole(rank=rank or 0, world_size=max(1, world_size or 1))
    dist = sys.modules.get("torch.distributed")
    if dist is not None and dist.is_available() and dist.is_initialized():
        return ProcessRole(rank=dist.get_rank(), world_size=dist.get_world_size())
    return SINGLE_PROCESS


def gather_to_writer(role: ProcessRole, item: Any) -> list[Any]:
    """Every process's ``item``, in rank order, on the writer; an empty list elsewhere. Collective."""
    if not role.is_distributed:
        return [item]
    import torch.distributed as dist

    out: list[Any] | None = [None] * role.world_size if role.is_writer else None
    dist.gather_object(item, out, dst=0)
    return out or []


def broadcast_from_writer(role: ProcessRole, value: Any) -> Any:
    """The writer's ``value`` on every process. Collective."""
    if not role.is_distributed:
        return value
    import torch.distributed as dist

    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]
