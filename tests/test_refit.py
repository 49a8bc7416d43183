"""`semrec train --networks-from`: the trained networks kept, what follows them fitted again under new
settings; settings that shape the networks refused."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from semrec.cli import app

NETWORK = ["--param", "epochs=2", "--param", "dim=16", "--param", "batch_size=8", "--no-ranker"]


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, " ".join(result.output.split())


def test_the_networks_are_kept_and_the_blend_stage_refitted(tiny_dir: Path, tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    base = ["train", "--data", str(tiny_dir), "--model", "lmrec", *NETWORK]
    code, output = run(*base, "--out", str(first), "--param", "cooccurrence_weight=0.3")
    assert code == 0, output
    code, output = run(
        *base, "--out", str(second), "--networks-from", str(first), "--param", "cooccurrence_weight=2"
    )
    assert code == 0, output
    assert (first / "weights.pt").read_bytes() == (second / "weights.pt").read_bytes()  # the same networks
    config = json.loads((second / "config.json").read_text())
    assert config["settings"]["cooccurrence_weight"] == "2.0"
    assert json.loads((second / "blend.json").read_text())["cooccurrence_weight"] == 2.0
    assert json.loads((first / "blend.json").read_text())["cooccurrence_weight"] == 0.3
    assert config["networks_from"]["artifacts"] == str(first.resolve())
    assert config["networks_from"]["training"]["epochs"] == 2  # the networks' own record travels along
    assert run("evaluate", "--data", str(tiny_dir), "--artifacts", str(second))[0] == 0


def test_settings_that_shape_the_networks_are_refused(tiny_dir: Path, tmp_path: Path) -> None:
    first = tmp_path / "a"
    base = ["train", "--data", str(tiny_dir), "--model", "lmrec", *NETWORK]
    assert run(*base, "--out", str(first))[0] == 0
    code, output = run(
        *base, "--out", str(tmp_path / "b"), "--networks-from", str(first), "--param", "dim=32"
    )
    assert code == 2 and "dim (16 trained, 32 asked)" in output and "cannot change" in output
    assert not (tmp_path / "b" / "config.json").exists()  # nothing written
    code, output = run(
        *base, "--out", str(tmp_path / "c"), "--networks-from", str(first), "--protocol", "cold-items"
    )
    assert code == 2 and "protocol" in output
    code, output = run(
        "train",
        "--data",
        str(tiny_dir),
        "--model",
        "sasrec",
        *NETWORK,
        "--out",
        str(tmp_path / "d"),
        "--networks-from",
        str(first),
    )
    assert code == 2 and "holds a 'lmrec' model, not 'sasrec'" in output
