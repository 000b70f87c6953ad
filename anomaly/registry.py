"""Rule id -> detector class, and building the enabled detectors from the rules.

`DETECTORS` maps each rule id (an alert type) to its detector class, named as
"module:Class" and imported only when needed, so that a detector whose module does not exist
yet (or whose optional dependencies are missing) is skipped with a warning instead of breaking
every other one. A class may also be registered directly: `DETECTORS["x"] = XDetector`.

Every detector class is built as `cls(config: RuleConfig, context: DetectContext)` (or by its
classmethod `from_rule(config, context)` when it has one). Its parameters are checked when the
rules are loaded: against its `Params` pydantic model when it has one, else against the keys of
its module's `DEFAULTS` dict. A class declares `keyed_by = "cell"` when it must see nearby
vessels together (it then runs on `tracks.cells`, not in the per-vessel stage).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final

from pydantic import BaseModel, ValidationError

from anomaly.context import DetectContext
from anomaly.detectors.base import Detector, RuleConfig

if TYPE_CHECKING:
    from anomaly.rules import RuleSet

__all__ = [
    "DETECTORS",
    "build_detectors",
    "check_params",
    "detector_class",
    "runs_in",
]

log = logging.getLogger(__name__)

DETECTORS: Final[dict[str, str | type[Any]]] = {
    # -- per-vessel behaviour detectors (anomaly/detectors/) ----------------------------------
    "ais_gap": "anomaly.detectors.gap:GapDetector",
    "loitering": "anomaly.detectors.loitering:LoiteringDetector",
    "drifting": "anomaly.detectors.drifting:DriftingDetector",
    "distress": "anomaly.detectors.distress:DistressDetector",
    "position_jump": "anomaly.detectors.position_jump:PositionJumpDetector",
    "speed_anomaly": "anomaly.detectors.speed_anomaly:SpeedAnomalyDetector",
    "identity_anomaly": "anomaly.detectors.identity_anomaly:IdentityAnomalyDetector",
    # -- zones and meetings: registered here, built by their own modules ------------------------
    "encounter": "anomaly.detectors.encounter:EncounterDetector",
    "zone_entry": "anomaly.detectors.zone_entry:ZoneEntryDetector",
    "coastal_approach": "anomaly.detectors.coastal_approach:CoastalApproachDetector",
    # -- learned models (anomaly/models/) --------------------------------------------------------
    "route_anomaly": "anomaly.detectors.route_anomaly:RouteAnomalyDetector",
    "migrant_risk": "anomaly.detectors.migrant_risk:MigrantRiskDetector",
}

_loaded: dict[str, type[Any] | None] = {}


def detector_class(rule_id: str) -> type[Any] | None:
    """The class registered for `rule_id`; None if none is, or its module is not there."""
    target = DETECTORS.get(rule_id)
    if target is None:
        return None
    if not isinstance(target, str):
        return target
    if target in _loaded:
        return _loaded[target]
    module_name, _, class_name = target.partition(":")
    cls: type[Any] | None = None
    try:
        module = importlib.import_module(module_name)
        cls = getattr(module, class_name)
    except ImportError as exc:
        if isinstance(exc, ModuleNotFoundError) and module_name.startswith(exc.name or "\0"):
            log.warning("rule %s: detector module %s does not exist (yet)", rule_id, module_name)
        else:  # the module is there but cannot be imported: run the other detectors, loudly
            log.error("rule %s: detector module %s fails to import: %s", rule_id, module_name, exc)
    except AttributeError:
        log.warning("rule %s: %s has no class %s", rule_id, module_name, class_name)
    _loaded[target] = cls
    return cls


def check_params(rule_id: str, params: Mapping[str, Any]) -> None:
    """Raise ValueError when `params` do not suit the detector of `rule_id` (if it is known)."""
    cls = detector_class(rule_id)
    if cls is None:
        return
    model = getattr(cls, "Params", None)
    if isinstance(model, type) and issubclass(model, BaseModel):
        try:
            model.model_validate(dict(params))
        except ValidationError as exc:
            raise ValueError(f"rule {rule_id}: {_errors(exc)}") from None
        return
    defaults = getattr(importlib.import_module(cls.__module__), "DEFAULTS", None)
    if isinstance(defaults, Mapping):
        unknown = sorted(set(params) - set(defaults))
        if unknown:
            raise ValueError(f"rule {rule_id}: unknown parameters {', '.join(unknown)}")


def runs_in(cls: type[Any] | None, keyed_by: str | None) -> bool:
    """Whether a stage keyed by `keyed_by` runs this class (None: every class; a class is keyed
    by "mmsi" unless it says otherwise, and so is a rule with no class)."""
    return keyed_by is None or getattr(cls, "keyed_by", "mmsi") == keyed_by


def build_detectors(
    rules: RuleSet | Iterable[RuleConfig],
    context: DetectContext | None = None,
    *,
    keyed_by: str | None = None,
) -> list[Detector]:
    """One detector per enabled rule whose class is available, in the rules' order.

    `keyed_by`: only the classes keyed that way ("mmsi": per-vessel, for a stage whose input
    is partitioned by vessel; "cell": cross-vessel); None builds every one (a single consumer
    that sees every vessel, as in `lookout process`)."""
    configs = rules.configs() if hasattr(rules, "configs") else list(rules)
    ctx = context if context is not None else DetectContext()
    detectors: list[Detector] = []
    for config in configs:
        if not config.enabled:
            continue
        cls = detector_class(config.id)
        if cls is None:
            log.info("rule %s: no detector available, skipped", config.id)
            continue
        if not runs_in(cls, keyed_by):
            continue
        factory = getattr(cls, "from_rule", None)
        detector = factory(config, ctx) if factory is not None else cls(config, ctx)
        detectors.append(detector)
    return detectors


def _errors(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(part) for part in error['loc']) or 'params'}: {error['msg']}"
        for error in exc.errors()
    )
