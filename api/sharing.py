"""Sharing agreements: which agency may see which alert (and which vessel position).

`config/agencies.yaml` (and the admin API) describe each agency: roles, areas of interest,
alert types received, highest TLP allowed, whether it is a search-and-rescue partner. This
module turns them into `Agency` objects with prepared shapely geometries, and holds the one
decision function, `visible_mask`, that every read path uses: list, get, bounding box, the
server-sent event stream and webhooks. It is written once, here; nothing else decides.

TLP 2.0 (FIRST): CLEAR, GREEN and AMBER go to agencies whose agreement allows that marking;
AMBER+STRICT stays within the owning agency (the operator that produced the alert); RED goes
only to named recipients. Distress alerts go to every search-and-rescue partner whose areas
they touch, whatever else is configured (safety of life at sea comes before the marking).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

import numpy as np
import orjson
import shapely
import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from anomaly.records import AlertType, Tlp

BBox = tuple[float, float, float, float]  # west, south, east, north


class Role(StrEnum):
    PARTNER = "partner"
    OFFICER = "officer"
    ANALYST = "analyst"
    ADMIN = "admin"


class AgreementError(ValueError):
    """agencies.yaml (or an admin request) describes an agreement that cannot be applied."""


SHAREABLE_MAX_TLP = (Tlp.CLEAR, Tlp.GREEN, Tlp.AMBER)
"""An agreement's `max_tlp` is one of these: AMBER+STRICT and RED are never shared by type."""


class AgencyConfig(BaseModel):
    """One agency as written in agencies.yaml or sent to the admin API."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{1,62}$")
    name: str = Field(min_length=1, max_length=200)
    country: str = Field(pattern=r"^[A-Z]{2}$")
    roles: tuple[Role, ...] = (Role.PARTNER,)
    areas: Literal["any"] | tuple[str | dict[str, Any], ...] = ()
    alert_types: Literal["all"] | tuple[AlertType, ...] = ()
    max_tlp: Tlp = Tlp.GREEN
    sar: bool = False
    webhook: str | None = Field(default=None, pattern=r"^https?://", max_length=2000)
    active: bool = True

    @field_validator("max_tlp")
    @classmethod
    def _shareable(cls, value: Tlp) -> Tlp:
        if value not in SHAREABLE_MAX_TLP:
            raise ValueError("max_tlp must be CLEAR, GREEN or AMBER (TLP 2.0)")
        return value

    @field_validator("roles")
    @classmethod
    def _some_role(cls, value: tuple[Role, ...]) -> tuple[Role, ...]:
        if not value:
            raise ValueError("an agency needs at least one role")
        return tuple(dict.fromkeys(value))


@dataclass(frozen=True, slots=True)
class Shareable:
    """What the sharing decision needs to know of an alert (a stored row or an `Alert`)."""

    id: str
    type: str
    tlp: Tlp
    lat: float
    lon: float
    owner: str
    recipients: frozenset[str] = frozenset()


@dataclass(frozen=True, eq=False)
class Agency:
    """An agency with its agreement compiled for fast checks."""

    config: AgencyConfig
    geometry: BaseGeometry | None  # prepared union of its areas; None = anywhere
    bbox: BBox | None  # of `geometry`; None = anywhere
    zone_ids: frozenset[str] = field(default_factory=frozenset)
    webhook_secret: str | None = field(default=None, repr=False)
    fingerprint: str = ""
    """A digest of everything `visible_mask` reads of the agreement (`agreement_fingerprint`):
    while it is unchanged, so is what the agency sees. The visibility index (api/visibility.py)
    is trusted only for the fingerprint it was built with; "" means none (always scan)."""

    @property
    def id(self) -> str:
        return self.config.id

    @property
    def roles(self) -> frozenset[Role]:
        return frozenset(self.config.roles)

    @property
    def sar(self) -> bool:
        return self.config.sar

    @property
    def max_tlp(self) -> Tlp:
        return self.config.max_tlp

    @property
    def alert_types(self) -> frozenset[str]:
        if self.config.alert_types == "all":
            return frozenset(t.value for t in AlertType)
        return frozenset(t.value for t in self.config.alert_types)

    @property
    def anywhere(self) -> bool:
        return self.geometry is None

    def covers(self, lons: Sequence[float], lats: Sequence[float]) -> np.ndarray[Any, Any]:
        """Per point: inside (or on the border of) one of the agency's areas."""
        if self.geometry is None:
            return np.ones(len(lons), dtype=bool)
        if not len(lons):
            return np.zeros(0, dtype=bool)
        x = np.asarray(lons, dtype=float)
        y = np.asarray(lats, dtype=float)
        result: np.ndarray[Any, Any] = shapely.intersects_xy(self.geometry, x, y)
        return result

    def covers_point(self, lon: float, lat: float) -> bool:
        return bool(self.covers([lon], [lat])[0])


_TLP_RANK: dict[Tlp, int] = {tlp: tlp.rank for tlp in Tlp}  # `Tlp.rank` builds a list per call


def visible_mask(agency: Agency, items: Sequence[Shareable]) -> list[bool]:
    """The sharing decision, for each item: may `agency` see it? The only place it is made."""
    if not items:
        return []
    inside = agency.covers([i.lon for i in items], [i.lat for i in items])
    types = agency.alert_types
    max_rank = _TLP_RANK[agency.max_tlp]
    agency_id, sar = agency.id, agency.sar
    out: list[bool] = []
    for item, in_area in zip(items, inside.tolist(), strict=True):
        if agency_id == item.owner or agency_id in item.recipients:
            out.append(True)  # the owner; or named by the owner, whatever the marking
        elif item.type == AlertType.DISTRESS and sar and in_area:
            out.append(True)  # safety of life at sea: every SAR partner whose area it touches
        elif item.tlp is Tlp.RED or item.tlp is Tlp.AMBER_STRICT:
            out.append(False)  # RED: named recipients only; AMBER+STRICT: the owner only
        else:
            out.append(in_area and item.type in types and _TLP_RANK[item.tlp] <= max_rank)
    return out


def visible(agency: Agency, item: Shareable) -> bool:
    return visible_mask(agency, [item])[0]


RULES_VERSION = 1
"""Part of every agreement fingerprint. Bump it with any change to what `visible_mask`
decides: every agency's visibility index is then rebuilt, and polls scan until it is."""


def agreement_fingerprint(config: AgencyConfig, zones: Mapping[str, BaseGeometry]) -> str:
    """A digest of what decides an agency's visibility: its id (owner and named recipient
    checks), its areas (named zones by their geometry, so editing a zone file counts), the
    alert types it receives (`all` resolved, so a new alert type counts), its highest TLP,
    whether it is a search-and-rescue partner, and `RULES_VERSION`. Not its name, roles,
    webhook or whether it is active: they change no sharing decision."""
    areas: Any
    if config.areas == "any":
        areas = "any"
    else:
        areas = [
            ["zone", a, shapely.to_wkb(zones[a], hex=True) if a in zones else None]
            if isinstance(a, str)
            else ["geojson", a]
            for a in config.areas
        ]
    types = (
        sorted(t.value for t in AlertType)
        if config.alert_types == "all"
        else sorted({t.value for t in config.alert_types})
    )
    canonical = orjson.dumps(
        [RULES_VERSION, config.id, areas, types, config.max_tlp.value, config.sar],
        option=orjson.OPT_SORT_KEYS,
    )
    return hashlib.sha256(canonical).hexdigest()


# -- loading ---------------------------------------------------------------------------------


def load_zones(config_dir: Path) -> dict[str, BaseGeometry]:
    """Named areas from `config_dir/zones/*.geojson`: feature id (or properties.id, or the file
    name for a single-feature file) -> geometry."""
    zones: dict[str, BaseGeometry] = {}
    folder = config_dir / "zones"
    if not folder.is_dir():
        return zones
    for path in sorted(folder.glob("*.geojson")):
        data = orjson.loads(path.read_bytes())
        features = data.get("features") if data.get("type") == "FeatureCollection" else [data]
        for feature in features or []:
            props = feature.get("properties") or {}
            zone_id = feature.get("id") or props.get("id")
            if zone_id is None and len(features) == 1:
                zone_id = path.stem
            if zone_id is None or feature.get("geometry") is None:
                continue
            zones[str(zone_id)] = shape(feature["geometry"])
    return zones


def compile_agency(
    config: AgencyConfig, zones: Mapping[str, BaseGeometry], webhook_secret: str | None = None
) -> Agency:
    fingerprint = agreement_fingerprint(config, zones)
    if config.areas == "any":
        return Agency(config, None, None, webhook_secret=webhook_secret, fingerprint=fingerprint)
    parts: list[BaseGeometry] = []
    zone_ids: set[str] = set()
    for area in config.areas:
        if isinstance(area, str):
            if area not in zones:
                raise AgreementError(f"agency {config.id}: unknown zone {area!r}")
            parts.append(zones[area])
            zone_ids.add(area)
            continue
        try:
            geometry = shape(area)
        except Exception as exc:  # shapely raises several types for bad GeoJSON
            raise AgreementError(f"agency {config.id}: bad area geometry: {exc}") from exc
        if geometry.geom_type not in ("Polygon", "MultiPolygon") or not geometry.is_valid:
            raise AgreementError(f"agency {config.id}: areas must be valid (Multi)Polygons")
        parts.append(geometry)
    if not parts:
        # No area at all: sees nothing by area (named recipients only).
        empty = shapely.Polygon()
        return Agency(config, empty, (0.0, 0.0, 0.0, 0.0), frozenset(), webhook_secret, fingerprint)
    union = shapely.union_all(parts)
    shapely.prepare(union)
    west, south, east, north = union.bounds
    bbox = (west, south, east, north)
    return Agency(config, union, bbox, frozenset(zone_ids), webhook_secret, fingerprint)


def read_agency_configs(config_dir: Path) -> list[AgencyConfig]:
    path = config_dir / "agencies.yaml"
    if not path.exists():
        return []
    data = yaml.safe_load(path.read_text()) or {}
    configs: list[AgencyConfig] = []
    for raw in data.get("agencies") or []:
        try:
            configs.append(AgencyConfig.model_validate(_normalise(raw)))
        except ValueError as exc:
            raise AgreementError(f"{path}: {exc}") from exc
    ids = [c.id for c in configs]
    if len(ids) != len(set(ids)):
        raise AgreementError(f"{path}: duplicate agency ids")
    return configs


def _normalise(raw: Mapping[str, Any]) -> dict[str, Any]:
    data = dict(raw)
    for key in ("roles", "areas", "alert_types"):
        value = data.get(key)
        if isinstance(value, list):
            data[key] = tuple(value)
    return data


class Registry:
    """The agencies known to this process, compiled; replaced whole when they change."""

    def __init__(self, operator: str, agencies: Iterable[Agency] = ()) -> None:
        self.operator = operator
        self._agencies = {a.id: a for a in agencies}

    def get(self, agency_id: str) -> Agency | None:
        return self._agencies.get(agency_id)

    def all(self) -> list[Agency]:
        return list(self._agencies.values())

    def replace(self, agencies: Iterable[Agency]) -> None:
        self._agencies = {a.id: a for a in agencies}
