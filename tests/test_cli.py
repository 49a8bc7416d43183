"""The command line, end to end, with an independent scorer as a second opinion."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from semrec.cli import app
from semrec.hardware import cpu_info
from tests.conftest import SHARED, TINY_ITEMS, require_shared, write_dataset

runner = CliRunner()
SCORER = SHARED / "tools" / "score_predictions.py"


def _independent_score(data: Path, predictions: Path, split: str) -> dict[str, float]:
    require_shared(SCORER)
    done = subprocess.run(
        [sys.executable, str(SCORER), str(data), str(predictions), "--split", split],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    scored: dict[str, float] = json.loads(done.stdout)
    return scored


def _assert_agree(results: dict[str, object], independent: dict[str, float]) -> None:
    metrics = results["metrics"]
    assert isinstance(metrics, dict)
    assert independent["history_items_in_top50"] == 0
    assert independent["covered"] == independent["users"] == results["evaluated_users"]
    for k in (5, 10, 20, 50):
        for name in ("hr", "ndcg", "mrr"):
            assert round(metrics[f"{name}@{k}"], 4) == round(independent[f"{name}@{k}"], 4), f"{name}@{k}"


@pytest.mark.parametrize("split", ["test", "valid"])
def test_evaluate_writes_results_and_predictions_that_an_independent_scorer_agrees_with(
    tiny_dir: Path, tmp_path: Path, split: str
) -> None:
    out, preds = tmp_path / "results.json", tmp_path / "preds.jsonl"
    args = ["evaluate", "--data", str(tiny_dir), "--model", "itemknn", "--split", split]
    result = runner.invoke(app, [*args, "--out", str(out), "--predictions", str(preds)])
    assert result.exit_code == 0, result.output
    assert "HR" in result.output and "NDCG" in result.output
    document = json.loads(out.read_text())
    assert document["dataset"] == {
        "name": "tiny", "path": str(tiny_dir.resolve()), "users": 5, "items": 6, "interactions": 16,
    }  # fmt: skip
    assert document["model"]["model"] == "itemknn" and "decay" in document["model"]
    assert document["split"] == split and document["wall_time_seconds"]["total"] > 0
    # a figure's time is only read beside the CPU that gave it
    assert document["machine"]["cpu"] == cpu_info()
    lines = [json.loads(line) for line in preds.read_text().splitlines()]
    assert [line["user_id"] for line in lines] == ["u1", "u2", "u3", "u5"]
    assert all(len(line["items"]) == len(set(line["items"])) for line in lines)
    _assert_agree(document, _independent_score(tiny_dir, preds, split))


def test_bad_dataset_gives_clear_error_and_exit_code(tmp_path: Path) -> None:
    directory = write_dataset(tmp_path / "bad", TINY_ITEMS, [("u1", "a", "1"), ("u1", "nope", "2")])
    result = runner.invoke(app, ["evaluate", "--data", str(directory), "--model", "popularity"])
    assert result.exit_code == 2
    assert "interactions.csv.gz:3" in result.output and "'nope' is not in the catalog" in result.output
    info = runner.invoke(app, ["info", "--data", str(directory)])
    assert info.exit_code == 2 and "interactions.csv.gz:3" in info.output


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--model", "nope"], "available models"),
        (["--model", "itemknn", "--split", "train"], "choose test or valid"),
        (["--model", "itemknn", "--param", "decay"], "is not KEY=VALUE"),
        (["--model", "itemknn", "--param", "k=3"], "has no setting 'k'"),
    ],
)
def test_bad_options_name_the_allowed_values(tiny_dir: Path, extra: list[str], message: str) -> None:
    result = runner.invoke(app, ["evaluate", "--data", str(tiny_dir), *extra])
    assert result.exit_code == 2 and message in result.output


def test_help_everywhere() -> None:
    for command in ([], ["evaluate"], ["info"], ["import"], ["models"]):
        result = runner.invoke(app, [*command, "--help"])
        assert result.exit_code == 0 and "Usage" in result.output


def test_info_and_models(tiny_dir: Path) -> None:
    info = runner.invoke(app, ["info", "--data", str(tiny_dir)])
    assert info.exit_code == 0 and "interactions" in info.output and "16" in info.output
    models = runner.invoke(app, ["models"])
    assert all(name in models.output for name in ("popularity", "itemknn", "text-zeroshot"))


def test_popularity_on_amazon_beauty_matches_the_published_protocol(beauty_dir: Path, tmp_path: Path) -> None:
    out, preds = tmp_path / "results.json", tmp_path / "preds.jsonl"
    args = ["evaluate", "--data", str(beauty_dir), "--model", "popularity", "--out", str(out)]
    result = runner.invoke(app, [*args, "--predictions", str(preds)])
    assert result.exit_code == 0, result.output
    document = json.loads(out.read_text())
    assert document["evaluated_users"] == 22363
    published_hr10 = 0.0152  # PopRec, S3-Rec README
    assert abs(document["metrics"]["hr@10"] - published_hr10) / published_hr10 <= 0.30
    _assert_agree(document, _independent_score(beauty_dir, preds, "test"))
