"""Data-parallel training over several processes (Ray Train's workers, one process group over gloo):
every process takes its share of each batch, the gradients of all shares are summed into the whole
batch's, so every process takes the same optimizer step as one process would on the whole batch, and
the decisions that must agree (out of time, the validation score) are the first process's.

In one process (no process group) every function here is the identity.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.distributed as dist


def world() -> tuple[int, int]:
    """(this process's rank, number of processes)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def total(value: float) -> float:
    """``value`` summed over every process."""
    if world()[1] == 1:
        return value
    tensor = torch.tensor([value], dtype=torch.float64)
    dist.all_reduce(tensor)
    return float(tensor.item())


def same_start(module: torch.nn.Module) -> None:
    """Every process starts from the first one's weights."""
    if world()[1] == 1:
        return
    for tensor in module.state_dict().values():
        dist.broadcast(tensor, src=0)


def sum_gradients(parameters: Iterable[torch.nn.Parameter]) -> None:
    """Each parameter's gradient summed over every process (a parameter this process's share did not
    reach counts as zero), in one flat exchange."""
    if world()[1] == 1:
        return
    params = [p for p in parameters if p.requires_grad]
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    offset = 0
    for param in params:
        size = param.numel()
        param.grad = flat[offset : offset + size].view_as(param).clone()
        offset += size


def from_first(values: list[float]) -> list[float]:
    """The first process's ``values`` (every process passes a list of the same length)."""
    if world()[1] == 1:
        return values
    tensor = torch.tensor(values, dtype=torch.float64)
    dist.broadcast(tensor, src=0)
    return [float(v) for v in tensor.tolist()]
