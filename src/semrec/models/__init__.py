"""Recommenders behind one interface (fit / score / recommend)."""

from __future__ import annotations

from semrec.models.base import Recommender, TrainingData, top_k
from semrec.models.registry import create_model, model_names

__all__ = ["Recommender", "TrainingData", "create_model", "model_names", "top_k"]
