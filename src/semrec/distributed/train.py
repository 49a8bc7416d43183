"""`semrec train --ray-workers N`: the trainer under Ray Train (TorchTrainer, one process group over
gloo). Each worker runs the whole training run on the same data with the same seed; the training
loop hands each its share of every batch and sums their gradients (:mod:`semrec.training.collective`),
so every worker takes the steps one process would take on the whole batch. The first worker writes
the artifacts; the others write theirs to a scratch folder.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from semrec.distributed.cluster import connect
from semrec.evaluation.runner import RunSpec


def _worker(config: dict[str, Any]) -> None:
    import ray.train
    import torch

    from semrec.evaluation.runner import run_training

    torch.set_num_threads(config["threads"])
    rank = ray.train.get_context().get_world_rank()
    with tempfile.TemporaryDirectory(prefix="semrec-train-") as scratch:
        out = Path(config["out"]) if rank == 0 else Path(scratch)
        document = run_training(config["spec"], out)
        metrics = document.get("metrics", {})
        # every worker reports (Ray Train waits for all); the run's result is the first worker's
        ray.train.report({k: v for k, v in metrics.items() if isinstance(v, int | float)})


def train_on_ray(
    spec: RunSpec, out: Path, workers: int, cpus_per_worker: float = 1.0, address: str | None = None
) -> dict[str, Any]:
    """Trains on ``workers`` Ray Train workers; returns the first worker's validation metrics and
    the wall time."""
    if workers < 1:
        raise ValueError(f"--ray-workers must be at least 1, not {workers}")
    connect(address)
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="semrec-ray-train-") as storage:
        trainer = TorchTrainer(
            _worker,
            train_loop_config={
                "spec": spec,
                "out": str(out.resolve()),
                "threads": max(1, int(cpus_per_worker)),
            },
            scaling_config=ScalingConfig(
                num_workers=workers, use_gpu=False, resources_per_worker={"CPU": cpus_per_worker}
            ),
            torch_config=TorchConfig(backend="gloo"),
            run_config=RunConfig(name="semrec-train", storage_path=storage),
        )
        result = trainer.fit()
    return {**(result.metrics or {}), "workers": workers, "seconds": round(time.perf_counter() - started, 1)}
