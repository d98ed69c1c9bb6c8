"""Where models live: the one shipped in the package, and the one activated for a rules pack.

A rules directory may hold `model/active.npz` (put there by `crmbot model activate`); it is
then used instead of the shipped model. A pack can turn the model off with
`settings.categories.model: off`.
"""

from __future__ import annotations

import functools
from pathlib import Path

from rules.model.artifact import LinearModel, load_model

DEFAULT_MODEL = Path(__file__).parent / "default.npz"
ACTIVE_NAME = "model/active.npz"


@functools.lru_cache(maxsize=1)
def default_model() -> LinearModel:
    """The model shipped with crmbot (loaded once per process)."""
    return load_model(DEFAULT_MODEL)


def active_path(rules_dir: Path) -> Path:
    """Where `crmbot model activate` puts the model of this rules directory."""
    return rules_dir / ACTIVE_NAME


def model_for_pack(rules_dir: Path | None) -> LinearModel:
    """The pack's activated model if it has one, the shipped model otherwise."""
    if rules_dir is not None and rules_dir.is_dir():
        path = active_path(rules_dir)
        if path.exists():
            return load_model(path)
    return default_model()
