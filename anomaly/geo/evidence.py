"""Small pieces the geographic detectors share: a vessel's recent trail (for an alert's evidence
LineString), the alert's `vessel`, ship-type filters and rule parameters.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from anomaly.records import Severity, Vessel
from ingest.records import iso_ms
from tracks.records import StaticFields, TrackPoint

Fix = tuple[int, float, float]  # (ts ms, lon, lat)


class Trail:
    """A vessel's recent positions, one every `every_s` at most, the last `window_s` seconds."""

    __slots__ = ("every_ms", "fixes", "window_ms")

    def __init__(self, window_s: float = 7200.0, every_s: float = 60.0) -> None:
        self.window_ms = int(window_s * 1000)
        self.every_ms = int(every_s * 1000)
        self.fixes: list[Fix] = []

    def add(self, ts: int, lon: float, lat: float) -> None:
        fixes = self.fixes
        if fixes and ts - fixes[-1][0] < self.every_ms:
            return
        fixes.append((ts, lon, lat))
        cutoff = ts - self.window_ms
        if fixes[0][0] < cutoff:
            drop = 0
            while drop < len(fixes) - 1 and fixes[drop][0] < cutoff:
                drop += 1
            del fixes[:drop]

    def since(self, ts: int) -> list[Fix]:
        return [f for f in self.fixes if f[0] >= ts]

    def to_list(self) -> list[list[float]]:
        return [[t, x, y] for t, x, y in self.fixes]

    def load(self, rows: Iterable[Sequence[float]]) -> None:
        self.fixes = [(int(r[0]), float(r[1]), float(r[2])) for r in rows]


def linestring(fixes: Sequence[Fix], tail: Sequence[tuple[float, float]] = ()) -> dict[str, Any]:
    """GeoJSON LineString through the fixes (lon, lat), then `tail` points; at least two."""
    coords = [[round(x, 6), round(y, 6)] for _, x, y in fixes]
    coords.extend([round(x, 6), round(y, 6)] for x, y in tail)
    if len(coords) == 1:
        coords.append(coords[0])
    return {"type": "LineString", "coordinates": coords}


def vessel_of(static: StaticFields, flag: str | None) -> Vessel:
    return Vessel(static.name, static.callsign, static.imo, static.ship_type, flag)


def describe(point: TrackPoint) -> str:
    """'MMSI 123 (NAME, fishing)' for reasons."""
    bits = [b for b in (point.static.name, ship_type_name(point.static.ship_type)) if b]
    return f"MMSI {point.mmsi}" + (f" ({', '.join(bits)})" if bits else "")


def ship_type_name(ship_type: int | None) -> str | None:
    if ship_type is None or ship_type == 0:
        return None
    names = {
        30: "fishing", 31: "towing", 32: "towing", 33: "dredging", 34: "diving", 35: "military",
        36: "sailing", 37: "pleasure craft", 50: "pilot", 51: "search and rescue", 52: "tug",
        53: "port tender", 54: "anti-pollution", 55: "law enforcement", 58: "medical",
    }  # fmt: skip
    if ship_type in names:
        return names[ship_type]
    decade = {2: "wing in ground", 4: "high-speed craft", 6: "passenger", 7: "cargo", 8: "tanker",
              9: "other type"}.get(ship_type // 10)  # fmt: skip
    return decade or f"type {ship_type}"


def ship_types(spec: Iterable[int | str] | None) -> frozenset[int]:
    """[30, "60-89"] -> the set of AIS ship types it names."""
    out: set[int] = set()
    for item in spec or ():
        if isinstance(item, int):
            out.add(item)
            continue
        low, _, high = str(item).partition("-")
        out.update(range(int(low), int(high or low) + 1))
    return frozenset(out)


def severity_of(value: str | Severity | None, default: Severity) -> Severity:
    return Severity(value) if value else default


SEVERITY_SCORE = {
    Severity.INFO: 0.1,
    Severity.LOW: 0.3,
    Severity.MEDIUM: 0.5,
    Severity.HIGH: 0.75,
    Severity.CRITICAL: 0.95,
}


def params(defaults: Mapping[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
    """The rule's parameters over the defaults; an unknown name is a configuration error."""
    unknown = set(given) - set(defaults)
    if unknown:
        raise ValueError(f"unknown parameters: {', '.join(sorted(unknown))}")
    return {**defaults, **given}


def hhmm(ts: int) -> str:
    return iso_ms(ts)[:16] + "Z"
