"""The model a detector's rule names: loaded, or the reason there is none.

A rule's `model` parameter is "default" (the bundled file), a path (relative ones also looked
up in the configuration folder), or "" / "none" / "off" for none. A missing or unreadable file
never fails the stage: the detector stays silent, logs why, and reports it (`anomaly.health`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["DetectorModel", "load_detector_model"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DetectorModel:
    model: Any | None
    problem: str = ""  # why there is no model ("" when there is one)


def load_detector_model(
    value: str, default: Path, kind: str, *, given: Any | None = None
) -> DetectorModel:
    """The `kind` model a rule names (`default`: the bundled file), or why there is none;
    `given`: a model handed to the detector (tests), taken as it is."""
    from anomaly.models.route import load_model

    if given is not None:
        return DetectorModel(given)
    if not value or value.lower() in ("none", "off"):
        log.info("%s: no model configured; the detector stays silent", kind)
        return DetectorModel(None, "no model configured (params.model is empty)")
    path = default if value == "default" else _configured(Path(value))
    if not path.exists():
        log.warning(
            "%s: no trained model at %s; the detector stays silent "
            "(train one with `lookout train`)",
            kind,
            path,
        )
        return DetectorModel(None, f"no model file at {path} (train one with `lookout train`)")
    try:
        return DetectorModel(load_model(path, kind))
    except Exception as exc:  # a corrupt or foreign file must not stop the stage
        log.warning("%s: cannot load the model %s (%s); the detector stays silent", kind, path, exc)
        return DetectorModel(None, f"cannot load the model {path}: {exc}")


def _configured(path: Path) -> Path:
    """A relative path that does not exist here, looked up in the configuration folder."""
    if path.is_absolute() or path.exists():
        return path
    try:
        from config import default_config_dir
    except ImportError:  # pragma: no cover
        return path
    candidate = default_config_dir() / path
    return candidate if candidate.exists() else path
