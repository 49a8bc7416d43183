"""`semrec quickstart`: trains, evaluates, and a second run reuses what the first made."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from semrec.cli import app


def test_quickstart_prepares_then_reuses(shop_artifacts: dict[str, Path], tmp_path: Path) -> None:
    args = ["quickstart", "--data", str(shop_artifacts["data"]), "--model", "text-zeroshot"]
    args += ["--workdir", str(tmp_path / "qs"), "--no-serve"]
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 0, first.output
    assert (
        "training text-zeroshot" in first.output and "NDCG" in first.output and "coverage@10" in first.output
    )
    assert (tmp_path / "qs" / "data-text-zeroshot" / "config.json").exists()
    second = CliRunner().invoke(app, args)
    assert second.exit_code == 0 and "reusing the trained model" in second.output
    assert "already in" in second.output
    # a results file written for other artifacts (here: retrained since) is not shown as theirs
    results = tmp_path / "qs" / "data-text-zeroshot-test.json"
    stale = json.loads(results.read_text())
    created = stale["artifacts_created"]
    results.write_text(json.dumps({**stale, "artifacts_created": "2001-01-01T00:00:00+00:00"}))
    third = CliRunner().invoke(app, args)
    assert third.exit_code == 0 and "evaluating again" in third.output, third.output
    assert json.loads(results.read_text())["artifacts_created"] == created
    wrong = CliRunner().invoke(app, ["quickstart", "--data", str(tmp_path), "--no-serve"])
    assert wrong.exit_code == 2 and "not a dataset folder" in wrong.output
