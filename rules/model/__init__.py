"""The learned classifier that decides beside the rule pack (TF-IDF n-grams, linear heads)."""

from __future__ import annotations

from rules.model.artifact import LinearModel, ModelError, Prediction, load_model, save_model
from rules.model.store import DEFAULT_MODEL, default_model, model_for_pack

__all__ = [
    "DEFAULT_MODEL",
    "LinearModel",
    "ModelError",
    "Prediction",
    "default_model",
    "load_model",
    "model_for_pack",
    "save_model",
]
