"""Model settings with help text: each field of a model's ``Config`` dataclass documents itself.

A field is declared with :func:`setting` (its default and what it does); :func:`describe` lists a
config class's settings for ``semrec models`` and for the test that every setting has its help.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple, TypeVar

T = TypeVar("T")


def setting(default: T, help: str) -> T:
    """A dataclass field with this default and this help text (in the field's metadata)."""
    return dataclasses.field(default=default, metadata={"help": help})


class Setting(NamedTuple):
    """One setting of a model: name, type name, default and help text ('' when it has none)."""

    name: str
    type: str
    default: Any
    help: str


def describe(config: type[Any]) -> list[Setting]:
    """The settings of a config dataclass, in declaration order (inherited ones first)."""
    out = []
    for field in dataclasses.fields(config):
        kind = field.type if isinstance(field.type, str) else getattr(field.type, "__name__", str(field.type))
        default = field.default
        if default is dataclasses.MISSING and field.default_factory is not dataclasses.MISSING:
            default = field.default_factory()
        out.append(Setting(field.name, kind, default, str(field.metadata.get("help", ""))))
    return out
