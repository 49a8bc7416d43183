"""Artifacts and results say where they come from, and nothing is scored or resumed on another split."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from semrec.cli import app
from semrec.evaluation.runner import RunSpec, guard_checkpoint
from tests.conftest import TINY_EVENTS, TINY_ITEMS, write_dataset


def train(data: Path, out: Path, *extra: str) -> None:
    args = ["train", "--data", str(data), "--model", "text-zeroshot", "--out", str(out), *extra]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output


def evaluate(data: Path, artifacts: Path, *extra: str) -> tuple[int, str]:
    args = ["evaluate", "--data", str(data), "--artifacts", str(artifacts), *extra]
    result = CliRunner().invoke(app, args)
    return result.exit_code, " ".join(result.output.split())


def test_artifacts_record_protocol_data_settings_and_code(tiny_dir: Path, tmp_path: Path) -> None:
    train(tiny_dir, tmp_path / "a", "--protocol", "cold-items", "--cold-fraction", "0.2")
    config = json.loads((tmp_path / "a" / "config.json").read_text())
    provenance = config["provenance"]
    assert provenance["protocol"] == "cold-items" and provenance["cold_fraction"] == 0.2
    assert provenance["dataset_fingerprint"] == RunSpec(data=tiny_dir).provenance()["dataset_fingerprint"]
    assert provenance["dataset_fingerprint"].startswith("sha256:")
    assert provenance["code"]["semrec"] and "decay" in config["settings"]
    code, output = evaluate(tiny_dir, tmp_path / "a", "--protocol", "cold-items", "--cold-fraction", "0.2")
    assert code == 0, output


def test_evaluate_refuses_artifacts_of_another_protocol_or_dataset(tiny_dir: Path, tmp_path: Path) -> None:
    train(tiny_dir, tmp_path / "loo")
    code, output = evaluate(tiny_dir, tmp_path / "loo", "--protocol", "cold-items")
    cold = "cold-items (cold_fraction 0.1, valid_cold_fraction 0.1)"
    assert code == 2 and f"trained under protocol loo, not {cold}" in output
    train(tiny_dir, tmp_path / "cold", "--protocol", "cold-items")
    code, output = evaluate(tiny_dir, tmp_path / "cold")
    assert code == 2 and f"trained under protocol {cold}, not loo" in output
    code, output = evaluate(tiny_dir, tmp_path / "cold", "--protocol", "cold-items", "--cold-fraction", "0.3")
    assert code == 2 and "not cold-items (cold_fraction 0.3, valid_cold_fraction 0.3)" in output
    # the same catalog with other events: the fingerprint tells
    other = write_dataset(tmp_path / "other", TINY_ITEMS, TINY_EVENTS[:-1])
    code, output = evaluate(other, tmp_path / "loo")
    assert code == 2 and "trained on other data" in output
    assert evaluate(tiny_dir, tmp_path / "loo")[0] == 0


def test_artifacts_from_before_provenance_count_as_leave_one_out(tiny_dir: Path, tmp_path: Path) -> None:
    train(tiny_dir, tmp_path / "old")
    path = tmp_path / "old" / "config.json"
    config = json.loads(path.read_text())
    del config["provenance"]
    path.write_text(json.dumps(config))
    assert evaluate(tiny_dir, tmp_path / "old")[0] == 0  # `semrec train` had leave-one-out only
    code, output = evaluate(tiny_dir, tmp_path / "old", "--protocol", "time")
    assert code == 2 and "trained under protocol loo, not time" in output


def test_cold_items_artifacts_of_the_older_validation_split_are_refused(
    tiny_dir: Path, tmp_path: Path
) -> None:
    # before valid_cold_fraction was recorded, validation hid half the test's share of all items:
    # another set of products was left out of training
    train(tiny_dir, tmp_path / "old", "--protocol", "cold-items")
    path = tmp_path / "old" / "config.json"
    config = json.loads(path.read_text())
    assert config["provenance"].pop("valid_cold_fraction") == 0.1
    path.write_text(json.dumps(config))
    code, output = evaluate(tiny_dir, tmp_path / "old", "--protocol", "cold-items")
    assert code == 2 and "trained under protocol cold-items (cold_fraction 0.1), not cold-items" in output


def test_a_checkpoint_resumes_only_the_run_it_belongs_to(tiny_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    key = {"settings": {"model": "sasrec", "lr": 0.001}, "provenance": {"protocol": "loo"}}
    guard_checkpoint(out, key)  # nothing to resume: the key is written down
    (out / "checkpoint.pt").write_bytes(b"state")
    guard_checkpoint(out, key)  # same run: resumes
    changed = {**key, "settings": {"model": "sasrec", "lr": 0.01}}
    with pytest.raises(ValueError, match=r"changed: settings\.lr"):
        guard_checkpoint(out, changed)
    other_data = {**key, "provenance": {"protocol": "loo", "dataset_fingerprint": "sha256:beef"}}
    with pytest.raises(ValueError, match=r"changed: provenance\.dataset_fingerprint"):
        guard_checkpoint(out, other_data)
    (out / "checkpoint.json").unlink()
    with pytest.raises(ValueError, match="no record of the run"):
        guard_checkpoint(out, key)
    # through the command line: a checkpoint of another run is refused with the way out
    shutil.rmtree(out)
    out.mkdir()
    guard_checkpoint(out, key)
    (out / "checkpoint.pt").write_bytes(b"state")
    result = CliRunner().invoke(
        app, ["train", "--data", str(tiny_dir), "--model", "sasrec", "--out", str(out), "--param", "epochs=1"]
    )
    assert result.exit_code == 2 and "delete checkpoint.pt to start over" in " ".join(result.output.split())
