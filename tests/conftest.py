"""Shared fixtures: tiny hand-made datasets written to temporary folders, and the shared data's path."""

from __future__ import annotations

import csv
import gzip
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("SEMREC_PROGRESS", "0")

SHARED = Path(os.environ.get("SEMREC_SHARED", Path(__file__).resolve().parents[2] / "shared"))
DATASETS = SHARED / "datasets"


def write_dataset(
    directory: Path,
    items: Sequence[Sequence[str]],
    events: Sequence[Sequence[str]],
    item_header: Sequence[str] = ("item_id", "title"),
    event_header: Sequence[str] = ("user_id", "item_id", "timestamp"),
) -> Path:
    """Writes items.csv and interactions.csv.gz exactly as given (rows may be malformed on purpose)."""
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / "items.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(item_header)
        writer.writerows(items)
    with gzip.open(directory / "interactions.csv.gz", "wt", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(event_header)
        writer.writerows(events)
    return directory


TINY_ITEMS = [
    ("a", "Rose Lipstick Red"),
    ("b", "Rose Lip Gloss Pink"),
    ("c", "Tea Tree Shampoo"),
    ("d", "Tea Tree Conditioner"),
    ("e", "Nail Polish &amp; Remover Set"),
    ("f", "Mascara Black"),
]

# five shoppers; row order is the order they acted (timestamps are equal on purpose)
TINY_EVENTS = [
    ("u1", "a", "100"), ("u1", "b", "100"), ("u1", "c", "100"), ("u1", "d", "100"),
    ("u2", "a", "200"), ("u2", "b", "200"), ("u2", "e", "300"),
    ("u3", "c", "100"), ("u3", "d", "200"), ("u3", "a", "300"), ("u3", "b", "400"),
    ("u4", "f", "50"), ("u4", "e", "60"),
    ("u5", "a", ""), ("u5", "c", "10"), ("u5", "d", "20"),
]  # fmt: skip


@pytest.fixture
def tiny_dir(tmp_path: Path) -> Path:
    return write_dataset(tmp_path / "tiny", TINY_ITEMS, TINY_EVENTS)


def require_shared(path: Path) -> Path:
    """Skips a test when the shared data is absent, except in CI, where it must be present."""
    if not path.exists():
        message = f"shared data not found at {path} (set SEMREC_SHARED to the shared folder)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture
def beauty_dir() -> Path:
    return require_shared(DATASETS / "amazon-beauty")


@pytest.fixture(scope="session")
def shop_artifacts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Trained artifacts of the small shop: text-zeroshot, a small lmrec (hybrid) and the same lmrec
    with two networks (``lmrec-2``)."""
    from semrec.evaluation.runner import RunSpec, run_training
    from tests.shop_fixture import write_shop

    root = tmp_path_factory.mktemp("shop")
    data = write_shop(root / "data")
    small = {
        "epochs": "60",
        "dim": "16",
        "eval_every": "1000",
        "dropout": "0.0",
        "lr": "0.005",
        "batch_size": "8",
    }
    out = {}
    for key, name, params in (
        ("text-zeroshot", "text-zeroshot", {}),
        ("lmrec", "lmrec", small),
        ("lmrec-2", "lmrec", {**small, "networks": "2"}),
    ):
        run_training(RunSpec(data=data, model=name, params=params), root / key)
        out[key] = root / key
    out["data"] = data
    return out


def synthetic_ranker(n: int) -> Any:
    """A ranking stage over ``n`` candidates whose booster was fitted to labels that depend on most
    features, so that a feature computed otherwise somewhere changes its scores."""
    import lightgbm
    import numpy as np

    from semrec.models.ranker import FEATURES, Ranker

    rng = np.random.default_rng(0)
    x = rng.normal(0, 2, size=(3000, len(FEATURES))).astype(np.float32)
    column = {name: i for i, name in enumerate(FEATURES)}
    x[:, column["rank"]] = rng.integers(0, 12, len(x))
    x[:, column["history_length"]] = rng.integers(1, 6, len(x))
    x[:, column["new"]] = rng.integers(0, 2, len(x))
    signal = x @ rng.normal(size=len(FEATURES)) + 0.5 * x[:, column["new"]] - 0.2 * x[:, column["rank"]]
    y = (signal + rng.normal(size=len(x)) > 1.0).astype(np.float32)
    booster = lightgbm.train(
        {"objective": "lambdarank", "min_data_in_leaf": 5, "num_leaves": 15, "verbosity": -1},
        lightgbm.Dataset(x, y, group=[10] * 300),
        num_boost_round=30,
    )
    return Ranker(booster, n, (1.3, -2.0))


@pytest.fixture(scope="session")
def exported_artifacts(
    shop_artifacts: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    """Copies of the small shop's lmrec artifacts (one network, and two) after `semrec export
    --backend onnx`: the encoder and the networks as ONNX graphs."""
    import shutil

    from typer.testing import CliRunner

    from semrec.cli import app

    root = tmp_path_factory.mktemp("exported")
    out = {}
    for key in ("lmrec", "lmrec-2"):
        copy = Path(shutil.copytree(shop_artifacts[key], root / key))
        result = CliRunner().invoke(app, ["export", "--backend", "onnx", "--artifacts", str(copy)])
        assert result.exit_code == 0, result.output
        out[key] = copy
    return out


# PostgreSQL: a server of the tests' own (scripts/postgres.sh) unless SEMREC_TEST_POSTGRES names one
# (.ci/run starts one and names it); each test gets a database of its own on it
@pytest.fixture(scope="session")
def postgres_server() -> Any:
    import subprocess

    url = os.environ.get("SEMREC_TEST_POSTGRES")
    if url:
        yield url
        return
    script = Path(__file__).resolve().parents[1] / "scripts" / "postgres.sh"
    started = subprocess.run(["bash", str(script), "start"], capture_output=True, text=True, timeout=120)
    if started.returncode != 0:
        message = f"no PostgreSQL server for the tests: {started.stderr.strip()[-500:]}"
        if os.environ.get("CI"):
            pytest.fail(message)  # CI must run every store test: nothing is skipped there
        pytest.skip(message)
    url, folder = started.stdout.split()
    yield url
    subprocess.run(["bash", str(script), "stop", folder], capture_output=True, timeout=120)
    subprocess.run(["rm", "-rf", folder], capture_output=True, timeout=120)


@pytest.fixture
def postgres_url(postgres_server: str) -> Any:
    """The URL of a new, empty database, dropped after the test."""
    import uuid
    from urllib.parse import urlsplit, urlunsplit

    import psycopg

    name = f"semrec_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield urlunsplit(urlsplit(postgres_server)._replace(path="/" + name))
    with psycopg.connect(postgres_server, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database URL of each backend, for the store contract suite."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'shop.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url
