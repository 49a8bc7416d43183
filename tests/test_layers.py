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
from semrec.settings import ServerSettings
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


def _imports(package: Path) -> dict[str, set[str]]:
    """module -> the semrec modules it imports anywhere in its code (inside functions too), except
    under ``if TYPE_CHECKING:``, which never runs."""
    import ast

    modules = {
        ".".join(path.relative_to(package.parent).with_suffix("").parts).removesuffix(".__init__"): path
        for path in package.rglob("*.py")
    }
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text())
        typing_only = {
            id(node)
            for block in ast.walk(tree)
            if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
            for statement in block.body
            for node in ast.walk(statement)
        }
        found: set[str] = set()
        for node in ast.walk(tree):
            if id(node) in typing_only:
                continue
            if isinstance(node, ast.Import):
                found |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module)
                found |= {f"{node.module}.{alias.name}" for alias in node.names}
        graph[name] = {m for m in found if m in modules and m != name}
    return graph


def test_no_module_of_the_project_imports_itself_back() -> None:
    package = Path(__file__).resolve().parents[1] / "src" / "semrec"
    graph = _imports(package)
    # a package's __init__ that gathers its modules is not a cycle of theirs
    graph = {name: {m for m in deps if not name.startswith(f"{m}.")} for name, deps in graph.items()}
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for dep in sorted(graph[name]):
            if state.get(dep) == 1:
                cycles.append([*path[path.index(dep) :], dep] if dep in path else [name, dep])
            elif dep not in state:
                visit(dep, [*path, dep])
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert cycles == []
    assert "semrec.training.trainer" not in graph["semrec.models.sequential"]  # the case it guards


# rooms each room must never reach (directly, anywhere in its code); the one way from models to the
# trainer is fit(), which the allowance names
FORBIDDEN = {
    "semrec.store": ("semrec.online", "semrec.api", "semrec.models", "semrec.training"),
    "semrec.encoders": ("semrec.models", "semrec.online", "semrec.api", "semrec.training"),
    "semrec.models": ("semrec.online", "semrec.api", "semrec.evaluation", "semrec.training"),
    "semrec.online": ("semrec.api", "semrec.training", "semrec.evaluation", "semrec.cli"),
    "semrec.api": ("semrec.training", "semrec.evaluation", "semrec.cli"),
}
ALLOWED = {("semrec.models.sequential", "semrec.training.fitting")}


def test_each_room_imports_only_the_rooms_below_it() -> None:
    graph = _imports(Path(__file__).resolve().parents[1] / "src" / "semrec")
    crossings = sorted(
        (name, dep)
        for name, deps in graph.items()
        for room, banned in FORBIDDEN.items()
        if name == room or name.startswith(f"{room}.")
        for dep in deps
        if dep.startswith(banned) and (name, dep) not in ALLOWED
    )
    assert crossings == []
