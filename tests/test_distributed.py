"""Beyond one machine, on a real local Ray cluster started here: the item index sharded over Ray
actors answers as one index does, and the catalog embedded through Ray Data equals the local
vectors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from semrec.distributed.sharded_index import ShardedIndex, merge_top_k
from semrec.online.index import VectorIndex


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[Any]:
    from semrec.distributed.cluster import connect

    ray = connect(num_cpus=2)
    yield ray
    ray.shutdown()


def vectors(n: int, dim: int, seed: int) -> np.ndarray:
    """Unit vectors in clusters, shaped like item vectors (many near neighbours)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(max(n // 50, 1), dim))
    points = centres[rng.integers(0, len(centres), n)] + 0.4 * rng.normal(size=(n, dim))
    return (points / np.linalg.norm(points, axis=1, keepdims=True)).astype(np.float32)


def test_shards_answers_merge_best_first_lower_row_first_among_ties() -> None:
    scores = [np.array([[0.9, 0.5, 0.1]]), np.array([[0.9, 0.7, 0.0]])]
    rows = [np.array([[4, 2, 8]]), np.array([[3, 5, -1]])]
    best_scores, best_rows = merge_top_k(scores, rows, 4)
    assert best_rows.tolist() == [[3, 4, 5, 2]] and np.allclose(best_scores, [[0.9, 0.9, 0.7, 0.5]])
    _, short = merge_top_k([np.array([[0.3, 0.0]])], [np.array([[1, -1]])], 2)
    assert short.tolist() == [[1, -1]]  # padding stays padding


@pytest.mark.parametrize("shards", [1, 2, 3])
def test_a_sharded_exact_index_answers_as_one_index_does(ray_cluster: Any, shards: int) -> None:
    items, queries = vectors(6000, 48, seed=1), vectors(40, 48, seed=2)
    single = VectorIndex(48, "exact")
    sharded = ShardedIndex(48, shards, "exact", cpus_per_shard=0.1)
    try:
        for part in np.array_split(items, 3):  # added in parts, as a growing catalog is
            assert np.array_equal(sharded.add(part), single.add(part))
        assert len(sharded) == len(single) == 6000 and sharded.shards == shards
        want_scores, want_rows = single.search(queries, 10)
        got_scores, got_rows = sharded.search(queries, 10)
        assert np.array_equal(got_rows, want_rows)  # the same items in the same order
        assert np.allclose(got_scores, want_scores, atol=1e-5)
        assert sharded.memory_bytes() >= 6000 * 48 * 4  # every vector is held once
    finally:
        sharded.close()


def test_a_sharded_ivf_index_finds_what_exact_search_finds(ray_cluster: Any) -> None:
    items, queries = vectors(20000, 32, seed=3), vectors(100, 32, seed=4)
    single = VectorIndex(32, "exact")
    single.add(items)
    _, exact = single.search(queries, 10)
    sharded = ShardedIndex(32, 2, "ivf-sq8", cpus_per_shard=0.1, nprobe=32)
    try:
        sharded.add(items)
        _, found = sharded.search(queries, 10)
        recall = np.mean([len(set(f) & set(e)) / 10 for f, e in zip(found, exact, strict=True)])
        assert recall >= 0.9, recall
    finally:
        sharded.close()


def test_a_shard_that_does_not_answer_in_time_fails_the_search(ray_cluster: Any) -> None:
    sharded = ShardedIndex(8, 2, "exact", cpus_per_shard=0.1)
    try:
        sharded.add(vectors(100, 8, seed=5))  # the shards are up (starting them takes seconds)
        sharded.timeout_s = 0.5
        sharded._shards[1] = ray_cluster.remote(_Sleeper).options(num_cpus=0.1).remote()  # a stuck shard
        with pytest.raises(ray_cluster.exceptions.GetTimeoutError):
            sharded.search(vectors(1, 8, seed=6), 5)  # an error after 0.5 s, not a hung request
    finally:
        sharded.close()


class _Sleeper:
    def search(self, queries: np.ndarray, k: int) -> None:
        import time

        time.sleep(30)


def test_the_catalog_embedded_on_ray_equals_the_local_vectors(tmp_path: Path) -> None:
    import subprocess
    import sys

    from tests.shop_fixture import write_shop

    shop = write_shop(tmp_path / "shop")
    for name, extra in (("local", []), ("ray", ["--ray", "--ray-workers", "2", "--batch-size", "4"])):
        command = ["embed", "--data", str(shop), "--out", str(tmp_path / name), *extra]
        # the real command in a process of its own (its own local Ray cluster), bounded in time
        done = subprocess.run(
            [sys.executable, "-m", "semrec.cli", *command], capture_output=True, text=True, timeout=600
        )
        assert done.returncode == 0, done.stdout + done.stderr
    local, on_ray = (np.load(tmp_path / name / "vectors.npy") for name in ("local", "ray"))
    assert local.shape == on_ray.shape == (12, 384)
    cosines = np.sum(local * on_ray, axis=1) / (
        np.linalg.norm(local, axis=1) * np.linalg.norm(on_ray, axis=1)
    )
    assert cosines.min() >= 0.9999
    report = json.loads((tmp_path / "ray" / "embed.json").read_text())
    assert report["backend"] == "ray-data x2" and report["texts"] == 12
    ids = json.loads((tmp_path / "ray" / "item_ids.json").read_text())
    assert ids == json.loads((tmp_path / "local" / "item_ids.json").read_text()) and ids[0] == "lip-1"
