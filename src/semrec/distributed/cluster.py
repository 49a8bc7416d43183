"""Joining a Ray cluster: an address (``ray start --head`` printed it, or ``auto``), or a local one."""

from __future__ import annotations

from typing import Any


def ray_module() -> Any:
    try:
        import ray
    except ImportError:
        raise RuntimeError("this needs Ray: pip install 'semrec[ray]'") from None
    return ray


def connect(address: str | None = None, num_cpus: int | None = None) -> Any:
    """Ray, initialised once per process: on the cluster at ``address``, else a local cluster of
    ``num_cpus`` (all cores when None). Returns the ``ray`` module."""
    ray = ray_module()
    if not ray.is_initialized():
        if address:
            ray.init(address=address, logging_level="WARNING", log_to_driver=False)
        else:
            ray.init(num_cpus=num_cpus, include_dashboard=False, logging_level="WARNING", log_to_driver=False)
    return ray
