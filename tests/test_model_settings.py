"""Model settings: every one has help text, and `semrec models` prints them all."""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

import semrec
import semrec.cli as cli
from semrec.models.registry import MODELS, _lazy_models, create_model, model_names
from semrec.models.settings import Setting, describe, setting

runner = CliRunner()
PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def _config(name: str) -> type:
    return type(create_model(name).config)


def _without_help(config: type) -> list[str]:
    return [s.name for s in describe(config) if not s.help.strip()]


def test_every_registered_model_is_listed() -> None:
    assert sorted(model_names()) == sorted({*MODELS, *_lazy_models()})


@pytest.mark.parametrize("name", model_names())
def test_every_setting_has_help(name: str) -> None:
    config = _config(name)
    for field in dataclasses.fields(config):
        text = field.metadata.get("help")
        assert isinstance(text, str) and text.strip(), f"{name}: setting {field.name!r} has no help text"
    assert _without_help(config) == []


def test_a_setting_without_help_is_caught() -> None:
    @dataclasses.dataclass(frozen=True)
    class Config:
        documented: int = setting(3, "Something, in units.")
        undocumented: float = 0.5

    assert describe(Config) == [
        Setting("documented", "int", 3, "Something, in units."),
        Setting("undocumented", "float", 0.5, ""),
    ]
    assert _without_help(Config) == ["undocumented"]


def _rows(output: str) -> dict[str, list[str]]:
    """setting name -> [type, default, help] of each row of the printed tables (one line per row)."""
    rows = {}
    for line in output.splitlines():
        cells = [cell.strip() for cell in line.split("│")[1:-1]]
        if len(cells) == 4 and cells[0] != "setting":
            rows[cells[0]] = cells[1:]
    return rows


def test_models_prints_every_setting_with_its_help(monkeypatch: pytest.MonkeyPatch) -> None:
    # one line per row, however long its help
    monkeypatch.setattr(cli.modelling, "console", Console(width=2000))
    everything = runner.invoke(cli.app, ["models"])
    assert everything.exit_code == 0, everything.output
    assert all(name in everything.output for name in model_names())
    lmrec = runner.invoke(cli.app, ["models", "lmrec"])
    assert lmrec.exit_code == 0, lmrec.output
    assert "itemknn" not in lmrec.output
    expected = describe(_config("lmrec"))
    rows = _rows(lmrec.output)
    assert list(rows) == [s.name for s in expected]
    for item in expected:
        default = str(item.default).lower() if isinstance(item.default, bool) else str(item.default)
        assert rows[item.name] == [item.type, default, item.help]
        assert item.help in everything.output


def test_models_names_the_allowed_models_for_an_unknown_one() -> None:
    result = runner.invoke(cli.app, ["models", "nope"])
    assert result.exit_code == 2
    assert "unknown model 'nope'" in result.output
    assert all(name in result.output for name in model_names())


def test_version() -> None:
    result = runner.invoke(cli.app, ["--version"])
    assert result.exit_code == 0, result.output
    assert result.output == f"semrec {semrec.__version__}\n"
    assert tomllib.loads(PYPROJECT.read_text())["project"]["version"] == semrec.__version__
