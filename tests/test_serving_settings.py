"""Server settings: every one documented, file < environment < command line, clear errors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from semrec.feedback.influence import InfluenceCaps
from semrec.settings import ApiKey, ArmSettings, RateLimit, Rule, ServerSettings, load_settings

DOCS = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"


@pytest.mark.parametrize("model", [ServerSettings, ApiKey, Rule, ArmSettings, RateLimit, InfluenceCaps])
def test_every_setting_is_documented(model: type) -> None:
    text = DOCS.read_text()
    if model is not ServerSettings:  # its own table: field names repeat across the models
        text = text.split(f"## `{model.__name__}` fields", 1)[-1].split("\n## ", 1)[0]
    for name, field in model.model_fields.items():  # type: ignore[attr-defined]
        assert field.description, f"{model.__name__}.{name} has no description"
        row = re.search(rf"^\| `{name}` \|.*$", text, re.MULTILINE)
        assert row is not None, f"{model.__name__}.{name} is missing from docs/configuration.md"
        assert field.description in row.group(0), f"docs/configuration.md describes {name} differently"


def test_file_then_environment_then_explicit(
    shop_artifacts: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "semrec.toml"
    config.write_text(
        f'artifacts = "{shop_artifacts["text-zeroshot"]}"\nport = 9001\nhost = "0.0.0.0"\ndiversity = 0.3\n'
        '[[api_keys]]\nname = "ops"\nkey = "k-123"\nscopes = ["read", "admin"]\n'
    )
    monkeypatch.setenv("SEMREC_PORT", "9002")
    monkeypatch.setenv("SEMREC_DIVERSITY", "0.4")
    settings = load_settings(config, diversity=0.5)
    assert settings.host == "0.0.0.0"  # file
    assert settings.port == 9002  # environment beats file
    assert settings.diversity == 0.5  # explicit beats environment
    assert settings.api_keys[0].scopes == ["read", "admin"]
    assert "k-123" not in repr(settings)  # keys never show up in logs or reprs


def test_bad_settings_name_the_field(shop_artifacts: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="index"):
        ServerSettings(artifacts=shop_artifacts["lmrec"], index="annoy")
    with pytest.raises(ValidationError, match="no semrec artifacts"):
        ServerSettings(artifacts=tmp_path)
    with pytest.raises(ValidationError, match="extra"):
        ServerSettings(artifacts=shop_artifacts["lmrec"], colour="blue")  # type: ignore[call-arg]
    with pytest.raises(
        ValidationError, match=r"'mysql':// is not supported; allowed: sqlite:///, postgresql://"
    ):
        ServerSettings(artifacts=shop_artifacts["lmrec"], database="mysql://shop@db/shop")
    for database in (tmp_path / "a.db", "b.db", "sqlite:////tmp/c.db", "postgresql://shop@db:5432/shop"):
        assert ServerSettings(artifacts=shop_artifacts["lmrec"], database=database).database == str(database)
    broken = tmp_path / "broken.toml"
    broken.write_text("port = = 3")
    with pytest.raises(ValueError, match="cannot read settings file"):
        load_settings(broken)
