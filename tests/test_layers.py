"""The server's rooms: serving a trained model loads neither the trainer nor the fine-tuning library."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PROBE = """
import json, sys
from pathlib import Path
from semrec.api.app import create_app
from semrec.api.settings import ServerSettings
app = create_app(ServerSettings(artifacts=Path(sys.argv[1]), database=Path(sys.argv[2])))
assert app.state.follower.engine.runtime.name == sys.argv[3]
print(json.dumps(sorted(sys.modules)))
"""


@pytest.mark.parametrize("model", ["lmrec", "text-zeroshot"])
def test_a_server_on_trained_artifacts_imports_no_trainer(
    model: str, shop_artifacts: dict[str, Path], tmp_path: Path
) -> None:
    # a fresh interpreter: what this test process imported says nothing about the server's
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(shop_artifacts[model]), str(tmp_path / "shop.db"), model],
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "SEMREC_PROGRESS": "0"},
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    modules = set(json.loads(done.stdout.strip().splitlines()[-1]))
    assert "semrec.online.engine" in modules
    if model == "lmrec":  # the sequential model itself is loaded, only its trainer is not
        assert "semrec.models.sequential" in modules
    loaded = sorted(m for m in modules if m == "peft" or m.startswith(("peft.", "semrec.training")))
    assert loaded == []
