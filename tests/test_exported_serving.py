"""Artifacts after `semrec export`: the server runs the networks' ONNX graphs without torch and
answers exactly as with the trained networks themselves."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from semrec.api.app import create_app
from semrec.models.exported import ExportedSequential
from semrec.online.runtime import ModelRuntime
from semrec.settings import ServerSettings

KEYS = [{"name": "ops", "key": "a-secret", "scopes": ["read", "write"]}]
KEY = {"X-API-Key": "a-secret"}


@pytest.mark.parametrize("key", ["lmrec", "lmrec-2"])
def test_the_exported_graphs_compute_what_the_networks_compute(
    key: str, exported_artifacts: dict[str, Path]
) -> None:
    artifacts = exported_artifacts[key]
    graphs = ModelRuntime(artifacts)  # the exported graphs
    networks = ModelRuntime(artifacts, tower="torch")  # the trained networks, loaded by torch
    assert isinstance(graphs.model, ExportedSequential) and graphs.net is None
    assert networks.net is not None
    assert np.allclose(graphs.item_vectors, networks.item_vectors, atol=1e-6)
    rng = np.random.default_rng(0)
    histories = [rng.integers(0, len(graphs.item_ids), n) for n in (1, 3, 40)] + [np.array([])]
    queries = graphs.queries(histories, graphs.item_vectors)
    assert np.allclose(queries, networks.queries(histories, graphs.item_vectors), atol=1e-5)
    # products added after training: their vectors from their text and borrowed ID parts
    text = graphs.encode(["Glowa Velvet Rose Lip Balm", "A wholly new kind of hair oil", "Rose tea"])
    made, expected = graphs.adapt(text), networks.adapt(text)
    assert made is not None and expected is not None and np.allclose(made, expected, atol=1e-5)
    assert np.array_equal(graphs.model.counts, networks.model.counts)
    assert graphs.weights == networks.weights and graphs.text_decay == networks.text_decay
    trained = np.array([-1, 2])  # one product added later, one of the training catalog
    donors, reference = graphs.donors(trained, text[:2]), networks.donors(trained, text[:2])
    assert np.array_equal(donors.items, reference.items) and np.allclose(donors.weights, reference.weights)
    assert (graphs.ranker is None) == (networks.ranker is None)


def test_a_server_on_exported_artifacts_answers_as_on_the_networks(
    exported_artifacts: dict[str, Path], tmp_path: Path
) -> None:
    def client(tower: str, name: str) -> TestClient:
        settings = ServerSettings(
            artifacts=exported_artifacts["lmrec"],
            database=tmp_path / f"{name}.db",
            api_keys=KEYS,
            shopper_tower=tower,
        )
        return TestClient(create_app(settings))

    answers = []
    for tower in ("onnx", "torch"):
        shop = client(tower, tower)
        product = {"title": "Glowa Velvet Rose Lip Balm", "brand": "Glowa", "category": "Makeup > Lips"}
        assert shop.put("/v1/items/balm-9", json=product, headers=KEY).json()["recommendable"] is True
        events = [{"user_id": "ann", "item_id": i, "type": "click"} for i in ("lip-1", "balm-9", "lip-2")]
        assert shop.post("/v1/events", json={"events": events}, headers=KEY).status_code == 200
        lists = [
            shop.get(url, headers=KEY).json()["items"]
            for url in ("/v1/users/ann/recommendations?k=8", "/v1/items/balm-9/similar?k=5")
        ]
        answers.append([[(i["item_id"], i["score"]) for i in items] for items in lists])
    graphs, networks = answers
    for fast, reference in zip(graphs, networks, strict=True):
        assert [i for i, _ in fast] == [i for i, _ in reference]
        assert np.allclose([s for _, s in fast], [s for _, s in reference], atol=1e-5)


PROBE = """
import json, sys
from pathlib import Path
from semrec.api.app import create_app
from semrec.settings import ServerSettings
app = create_app(ServerSettings(artifacts=Path(sys.argv[1]), database=Path(sys.argv[2])))
assert app.state.follower.engine.runtime.net is None
print(json.dumps(sorted(sys.modules)))
"""


def test_a_server_on_exported_artifacts_loads_no_torch(
    exported_artifacts: dict[str, Path], tmp_path: Path
) -> None:
    done = subprocess.run(  # a fresh interpreter: this process has loaded torch long ago
        [sys.executable, "-c", PROBE, str(exported_artifacts["lmrec"]), str(tmp_path / "shop.db")],
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "SEMREC_PROGRESS": "0"},
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    modules = set(json.loads(done.stdout.strip().splitlines()[-1]))
    assert "semrec.online.engine" in modules and "onnxruntime" in modules
    heavy = sorted(m for m in modules if m.split(".")[0] in ("torch", "peft", "transformers"))
    assert heavy == []
    assert not any(m.startswith(("semrec.training", "semrec.models.sequential")) for m in modules)
