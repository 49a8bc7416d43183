"""Model names -> classes, and building a model from string settings (as given on the command line)."""

from __future__ import annotations

import dataclasses
from typing import Any

from semrec.models.base import Recommender
from semrec.models.itemknn import ItemKNNRecommender
from semrec.models.popularity import PopularityRecommender

MODELS: dict[str, type[Recommender]] = {
    PopularityRecommender.name: PopularityRecommender,
    ItemKNNRecommender.name: ItemKNNRecommender,
}


def _lazy_models() -> dict[str, type[Recommender]]:
    # heavy imports (torch, transformers) only when a text model is asked for
    from semrec.models.sequential import LMRecRecommender, SASRecRecommender
    from semrec.models.text_zeroshot import TextZeroShotRecommender

    return {
        TextZeroShotRecommender.name: TextZeroShotRecommender,
        SASRecRecommender.name: SASRecRecommender,
        LMRecRecommender.name: LMRecRecommender,
    }


def model_names() -> list[str]:
    return [*MODELS, "text-zeroshot", "sasrec", "lmrec"]


def _coerce(field: dataclasses.Field[Any], raw: str) -> Any:
    kind = field.type if isinstance(field.type, type) else str(field.type)
    if kind in (bool, "bool"):
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"setting {field.name!r} takes true or false, got {raw!r}")
    for typ, name in ((int, "int"), (float, "float")):
        if kind in (typ, name):
            try:
                return typ(raw)
            except ValueError:
                raise ValueError(f"setting {field.name!r} takes a number ({name}), got {raw!r}") from None
    return raw


def create_model(name: str, params: dict[str, str] | None = None) -> Recommender:
    """Builds the named model with its default settings, overridden by ``params``.

    Raises:
        ValueError: for an unknown model or setting, naming the allowed ones.
    """
    registry = {**MODELS, **_lazy_models()} if name not in MODELS else MODELS
    if name not in registry:
        raise ValueError(f"unknown model {name!r}; available models: {model_names()}")
    cls = registry[name]
    fields = {f.name: f for f in dataclasses.fields(cls.Config)}
    values: dict[str, Any] = {}
    for key, raw in (params or {}).items():
        if key not in fields:
            raise ValueError(
                f"model {name!r} has no setting {key!r}; its settings: {sorted(fields) or 'none'}"
            )
        values[key] = _coerce(fields[key], raw)
    return cls(cls.Config(**values))
