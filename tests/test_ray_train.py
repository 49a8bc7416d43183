"""`semrec train --ray-workers 2`: the trainer under Ray Train (TorchTrainer, gloo) on a local Ray
cluster, taking each batch in two shares with their gradients summed, lands where one process
lands: the same weights (to float rounding) and the same validation figures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from tests.shop_fixture import write_shop

SMALL = ["epochs=8", "dim=16", "eval_every=1000", "dropout=0.0", "lr=0.005", "batch_size=8", "ranker=0"]


def test_training_on_two_ray_workers_lands_where_one_process_lands(tmp_path: Path) -> None:
    data = write_shop(tmp_path / "shop")
    params = [arg for p in SMALL for arg in ("--param", p)]
    for name, extra in (("local", []), ("ray", ["--ray-workers", "2"])):
        command = ["train", "--data", str(data), "--model", "sasrec", "--out", str(tmp_path / name)]
        # the real command in a process of its own (its own local Ray cluster), bounded in time
        done = subprocess.run(
            [sys.executable, "-m", "semrec.cli", *command, *params, *extra],
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stdout + done.stderr
    assert "trained on Ray Train" in done.stdout and "workers 2" in done.stdout
    local, ray = (json.loads((tmp_path / n / "config.json").read_text())["metrics"] for n in ("local", "ray"))
    assert abs(local["ndcg@10"] - ray["ndcg@10"]) < 1e-3 and abs(local["hr@10"] - ray["hr@10"]) < 1e-3
    vectors = [np.load(tmp_path / n / "item_vectors.npy") for n in ("local", "ray")]
    assert np.allclose(vectors[0], vectors[1], atol=1e-4)  # the same steps, summed over two shares
