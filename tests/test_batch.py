"""Batch lists from trained artifacts: `semrec recommend`, and `train --seed/--device`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from typer.testing import CliRunner

from semrec.artifacts import load_artifacts
from semrec.cli import app
from semrec.models.base import top_k
from tests.conftest import TINY_EVENTS

runner = CliRunner()


def test_recommend_writes_each_shoppers_top_k_by_the_models_scores(tiny_dir: Path, tmp_path: Path) -> None:
    artifacts = tmp_path / "knn"
    trained = runner.invoke(
        app, ["train", "--data", str(tiny_dir), "--model", "itemknn", "--out", str(artifacts)]
    )
    assert trained.exit_code == 0, trained.output
    users = tmp_path / "users.txt"
    users.write_text("u2\n\nnobody\nu1\n")
    out = tmp_path / "recs.jsonl"
    args = ["recommend", "--artifacts", str(artifacts), "--data", str(tiny_dir), "--users", str(users)]
    done = runner.invoke(app, [*args, "--out", str(out), "--k", "3"])
    assert done.exit_code == 0, done.output
    said = " ".join(done.output.split())
    assert "3 lists written" in said and "2 shoppers with a history" in said
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["user_id"] for line in lines] == ["u2", "nobody", "u1"]
    model, item_ids, _ = load_artifacts(artifacts)
    index = {item: i for i, item in enumerate(item_ids)}
    for line in lines:
        # the whole history the data holds (later than training's part), never recommended
        history = np.array([index[i] for u, i, _ in TINY_EVENTS if u == line["user_id"]], dtype=np.int64)
        scores = model.score([history])
        expected = top_k(scores.copy(), 3, [history])[0]
        expected = expected[expected >= 0]
        assert line["items"] == [item_ids[i] for i in expected]
        assert line["scores"] == [round(float(scores[0, i]), 6) for i in expected]
        assert not set(line["items"]) & {item_ids[i] for i in history}
    assert len(lines[2]["items"]) == 2  # u1 holds 4 of the 6 products: 2 are left
    assert lines[1]["items"] and lines[1]["scores"] == sorted(lines[1]["scores"], reverse=True)


def test_recommend_refuses_an_unusable_users_file_clearly(tiny_dir: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    for users, message in ((tmp_path / "missing.txt", "no such file"), (empty, "holds no shopper ids")):
        args = ["recommend", "--artifacts", str(tmp_path), "--data", str(tiny_dir), "--users", str(users)]
        done = runner.invoke(app, [*args, "--out", str(tmp_path / "out.jsonl")])
        assert done.exit_code == 2 and message in " ".join(done.output.split()), done.output
        assert not (tmp_path / "out.jsonl").exists()


def test_train_takes_the_seed_and_device_as_options(tiny_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "sasrec"
    args = ["train", "--data", str(tiny_dir), "--model", "sasrec", "--out", str(out), "--seed", "7"]
    done = runner.invoke(app, [*args, "--device", "cpu", "--param", "epochs=1", "--param", "dim=8"])
    assert done.exit_code == 0, done.output
    config: Any = load_artifacts(out)[0].config
    assert config.seed == 7 and config.device == "cpu"
    refused = runner.invoke(app, [*args[:-2], "--seed", "7", "--device", "tpu"])
    assert refused.exit_code == 2 and "tpu" in refused.output, refused.output
