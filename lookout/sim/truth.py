"""The truth file: what a scenario really holds, in the alert schema's terms.

JSON lines. The first line describes the scenario (`"kind": "scenario"`: seed, settings, span,
vessels and vessel-hours); every other line is one labelled episode (`"kind": "truth"`):

    {"v": 1, "kind": "truth", "id": "T0007", "type": "encounter", "mmsi": 405123456,
     "mmsis": [405123456, 533222111], "start": "2024-05-01T03:10:00Z",
     "end": "2024-05-01T06:02:00Z", "lat": 17.2, "lon": 88.9, "optional": false,
     "details": {...}}

Then one line per simulated transmitter (`"kind": "vessel"`: mmsi, role such as merchant,
trawler, anchored, ferry, migrant, class, ship type), for diagnosis; evaluations ignore them.

`type` is an alert type (`ais_gap`, `encounter`, ... as in `anomaly.records.AlertType`), or
`migrant_voyage` (with `details.arrival`: when the boat reaches the destination coast, which
may lie beyond the scenario), or `hard_negative` (with `details.label`, e.g. `trawling`,
`at_anchor`, `coverage_hole`, `tug_alongside`, `ferry`, and `details.not`: the alert types it
must not raise). `optional` episodes are borderline (a meeting of 1.8 h; a gap that the end of
the scenario cut short; a merchant ship's routine transit of a watch area): an alert on one is
neither a hit nor a false alarm, and missing it is not a miss. `end` is null for an episode
still going on when the scenario ends.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from ingest.records import SCHEMA_VERSION, iso_ms, parse_iso_ms

__all__ = [
    "HARD_NEGATIVE",
    "MIGRANT_VOYAGE",
    "ScenarioInfo",
    "TruthRecord",
    "read_roster",
    "read_truth",
    "write_truth",
]

MIGRANT_VOYAGE = "migrant_voyage"
HARD_NEGATIVE = "hard_negative"


@dataclass(slots=True)
class TruthRecord:
    id: str
    type: str
    mmsis: tuple[int, ...]
    start: int  # epoch ms
    end: int | None
    lat: float | None = None
    lon: float | None = None
    optional: bool = False
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def mmsi(self) -> int:
        return self.mmsis[0]

    @property
    def arrival(self) -> int | None:
        value = self.details.get("arrival")
        return parse_iso_ms(value) if isinstance(value, str) else None

    @property
    def label(self) -> str | None:
        value = self.details.get("label")
        return str(value) if value is not None else None

    @property
    def not_types(self) -> tuple[str, ...]:
        return tuple(self.details.get("not") or ())

    def to_dict(self) -> dict[str, Any]:
        return {
            "v": SCHEMA_VERSION,
            "kind": "truth",
            "id": self.id,
            "type": self.type,
            "mmsi": self.mmsis[0] if self.mmsis else None,
            "mmsis": list(self.mmsis),
            "start": iso_ms(self.start),
            "end": iso_ms(self.end) if self.end is not None else None,
            "lat": None if self.lat is None else round(self.lat, 5),
            "lon": None if self.lon is None else round(self.lon, 5),
            "optional": self.optional,
            "details": self.details,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TruthRecord:
        mmsis = d.get("mmsis") or ([d["mmsi"]] if d.get("mmsi") is not None else [])
        return cls(
            id=str(d.get("id") or ""),
            type=str(d["type"]),
            mmsis=tuple(int(m) for m in mmsis),
            start=parse_iso_ms(d["start"]),
            end=parse_iso_ms(d["end"]) if d.get("end") else None,
            lat=d.get("lat"),
            lon=d.get("lon"),
            optional=bool(d.get("optional", False)),
            details=dict(d.get("details") or {}),
        )


@dataclass(slots=True)
class ScenarioInfo:
    """The first line of a truth file."""

    scenario: str
    seed: int
    start: int
    end: int
    vessels: int  # distinct MMSIs that transmitted
    vessel_hours: float  # summed span of each vessel's transmissions
    settings: dict[str, Any] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)  # truth records by type

    def to_dict(self) -> dict[str, Any]:
        return {
            "v": SCHEMA_VERSION,
            "kind": "scenario",
            "scenario": self.scenario,
            "seed": self.seed,
            "start": iso_ms(self.start),
            "end": iso_ms(self.end),
            "vessels": self.vessels,
            "vessel_hours": round(self.vessel_hours, 2),
            "settings": self.settings,
            "counts": self.counts,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ScenarioInfo:
        return cls(
            scenario=str(d.get("scenario") or ""),
            seed=int(d.get("seed") or 0),
            start=parse_iso_ms(d["start"]),
            end=parse_iso_ms(d["end"]),
            vessels=int(d.get("vessels") or 0),
            vessel_hours=float(d.get("vessel_hours") or 0.0),
            settings=dict(d.get("settings") or {}),
            counts=dict(d.get("counts") or {}),
        )


def _open_text(path: Path, mode: str) -> Any:
    if path.suffix == ".gz":
        return gzip.open(path, mode + "b")
    return path.open(mode + "b")


def write_truth(
    path: Path,
    info: ScenarioInfo,
    records: Iterable[TruthRecord],
    roster: Iterable[dict[str, Any]] = (),
) -> int:
    """Write the scenario line, the roster and the records; returns the number of records."""
    count = 0
    with _open_text(path, "w") as out:
        out.write(orjson.dumps(info.to_dict(), option=orjson.OPT_APPEND_NEWLINE))
        for vessel in roster:
            out.write(
                orjson.dumps(
                    {"v": SCHEMA_VERSION, "kind": "vessel", **vessel},
                    option=orjson.OPT_APPEND_NEWLINE,
                )
            )
        for record in records:
            out.write(orjson.dumps(record.to_dict(), option=orjson.OPT_APPEND_NEWLINE))
            count += 1
    return count


def iter_truth(path: Path) -> Iterator[dict[str, Any]]:
    with _open_text(path, "r") as stream:
        for line in stream:
            if line.strip():
                yield orjson.loads(line)


def read_roster(path: Path) -> dict[int, dict[str, Any]]:
    """MMSI -> the roster line of the simulated vessel (the last one, for a shared MMSI)."""
    return {int(d["mmsi"]): d for d in iter_truth(path) if d.get("kind") == "vessel"}


def read_truth(path: Path) -> tuple[ScenarioInfo | None, list[TruthRecord]]:
    """The scenario line (None when the file has none) and the truth records."""
    info: ScenarioInfo | None = None
    records: list[TruthRecord] = []
    for d in iter_truth(path):
        kind = d.get("kind", "truth")
        if kind == "scenario":
            info = ScenarioInfo.from_dict(d)
        elif kind == "truth":
            records.append(TruthRecord.from_dict(d))
    return info, records
