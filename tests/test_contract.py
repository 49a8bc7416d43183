"""The API contract: every status documented with the one error shape, a true Allow header, and a
fuzzer (schemathesis, every check on) that finds nothing against a real server on loopback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from semrec.api.app import create_app
from semrec.api.routes.search import NOT_BLANK
from semrec.settings import ServerSettings
from tests.test_serving_api import ADMIN, KEYS, READER, WRITER
from tests.test_serving_e2e import Server, write_config

FUZZ_EXAMPLES = 15  # per operation and phase; benchmarks/fuzz.py runs thousands of cases


@pytest.fixture
def client(shop_artifacts: dict[str, Path], tmp_path: Path) -> TestClient:
    settings = ServerSettings(artifacts=shop_artifacts["lmrec"], database=tmp_path / "c.db", api_keys=KEYS)
    return TestClient(create_app(settings), raise_server_exceptions=False)


def test_every_operation_documents_its_errors_in_one_shape(client: TestClient) -> None:
    schema: dict[str, Any] = client.get("/openapi.json").json()
    error = {"$ref": "#/components/schemas/Error"}
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            codes = set(operation["responses"])
            assert "503" in codes, (method, path)
            if path not in ("/healthz", "/readyz", "/metrics"):
                assert {"401", "403", "429"} <= codes, (method, path)
            if "requestBody" in operation:
                assert {"400", "413", "422"} <= codes, (method, path)
            for code in codes - {"200"}:
                assert operation["responses"][code]["content"]["application/json"]["schema"] == error
    responses = schema["paths"]["/v1/items/{item_id}"]["get"]["responses"]
    assert "404" in responses and "Retry-After" in responses["429"]["headers"]
    assert "404" in schema["paths"]["/v1/events"]["post"]["responses"]  # an item it names


def test_allow_names_every_method_of_a_path(client: TestClient) -> None:
    options = client.options("/v1/items/lip-1")
    assert options.status_code == 204
    assert set(options.headers["allow"].split(", ")) == {"GET", "PUT", "DELETE", "OPTIONS"}
    patch = client.patch("/v1/items/lip-1", json={}, headers=WRITER)
    assert patch.status_code == 405 and patch.json()["error"]["status"] == 405
    assert set(patch.headers["allow"].split(", ")) == {"GET", "PUT", "DELETE", "OPTIONS"}
    assert client.get("/v1/items/lip-1", headers=READER).status_code == 200  # the real ones pass


def test_rules_the_schema_states_are_the_ones_the_server_keeps(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    q = next(p for p in schema["paths"]["/v1/search"]["get"]["parameters"] if p["name"] == "q")
    assert q["schema"]["pattern"] == NOT_BLANK
    assert client.get("/v1/search?q=%20%20", headers=READER).status_code == 422
    assert client.get("/v1/search?q=%1D", headers=READER).status_code == 200  # not a space in JSON Schema
    event = {"user_id": "eve", "item_id": "lip-1", "type": "view"}
    # request_id and position go together, in the schema and in the server
    events = schema["components"]["schemas"]["ActionIn"]
    assert events["dependentRequired"] == {"request_id": ["position"], "position": ["request_id"]}
    alone = client.post("/v1/events", json={"events": [{**event, "position": 0}]}, headers=WRITER)
    assert alone.status_code == 422
    null = client.post("/v1/events", json={"events": [{**event, "request_id": None}]}, headers=WRITER)
    assert null.status_code == 422  # the schema allows no null there
    # an end before the start is a campaign that never serves, not an error the schema cannot state
    body = {"items": ["lip-1"], "bid_per_click": 1.0, "daily_budget": 5.0}
    window = {"start": "2030-01-02T00:00:00Z", "end": "2030-01-01T00:00:00Z"}
    stored = client.put("/v1/campaigns/c", json={**body, **window}, headers=ADMIN)
    assert stored.status_code == 200 and stored.json()["live"] is False


def test_a_fuzzer_with_every_check_finds_nothing(shop_artifacts: dict[str, Path], tmp_path: Path) -> None:
    """schemathesis against a real server: coverage, fuzzing and stateful phases, fixed seed."""
    server = Server(write_config(shop_artifacts, tmp_path))
    server.start()
    report = tmp_path / "fuzz.json"
    try:
        command = [
            str(Path(sys.executable).parent / "st"),
            "run",
            f"{server.url}/openapi.json",
            "--checks",
            "all",
            "--header",
            "Authorization: Bearer e2e-admin",
            "--max-examples",
            str(FUZZ_EXAMPLES),
            "--seed",
            "1",
            "--no-color",
            "--report",
            "json",
            "--report-json-path",
            str(report),
        ]
        run = subprocess.run(command, capture_output=True, text=True, timeout=1200, cwd=tmp_path)
    finally:
        server.stop()
    summary = json.loads(report.read_text())
    assert summary["exit_code"] == 0 and not summary["failures"] and not summary["errors"], run.stdout[-8000:]
    assert summary["operations"]["tested"] == summary["operations"]["total"] >= 20
    ran = {name: phase["status"] for name, phase in summary["phases"].items() if name != "examples"}
    assert set(ran.values()) == {"success"}, ran
    assert summary["test_cases"]["generated"] >= 300
