"""Alerts as OASIS Common Alerting Protocol 1.2 messages.

One alert version is one CAP `<alert>`: identifier `<alert id>.r<revision>`, `msgType` Alert
for the first revision and Update afterwards, `scope` from the TLP marking (CLEAR: Public;
GREEN and AMBER: Restricted, with the marking as the restriction; AMBER+STRICT and RED:
Private, addressed to the agencies entitled to it). A list is an Atom feed (RFC 4287) whose
entries carry one CAP alert each, as CAP feeds do. Times use a numeric `+00:00` offset and no
fractions, as the CAP 1.2 schema's pattern requires (`Z` is rejected).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, Final

import orjson

MEDIA_TYPE: Final = "application/cap+xml"
CAP_NS: Final = "urn:oasis:names:tc:emergency:cap:1.2"
ATOM_NS: Final = "http://www.w3.org/2005/Atom"
CIRCLE_RADIUS_KM: Final = 5.0

_SEVERITY: Final = {
    "critical": "Extreme",
    "high": "Severe",
    "medium": "Moderate",
    "low": "Minor",
    "info": "Minor",
}
_URGENCY: Final = {
    "critical": "Immediate",
    "high": "Immediate",
    "medium": "Expected",
    "low": "Future",
    "info": "Future",
}
_EVENTS: Final = {
    "ais_gap": "AIS transmission gap",
    "loitering": "Vessel loitering",
    "encounter": "Vessel encounter at sea",
    "position_jump": "Implausible AIS position jump",
    "speed_anomaly": "Abnormal vessel speed",
    "identity_anomaly": "AIS identity anomaly",
    "zone_entry": "Vessel entered a watched zone",
    "coastal_approach": "Vessel approaching the coast",
    "drifting": "Vessel drifting",
    "distress": "Distress signal at sea",
    "route_anomaly": "Unusual vessel route",
    "migrant_risk": "Possible people-smuggling vessel",
}

ET.register_namespace("cap", CAP_NS)
ET.register_namespace("atom", ATOM_NS)


def cap_time(iso: str | None) -> str | None:
    """An ISO 8601 UTC string (with `Z` and maybe milliseconds) as CAP wants it."""
    if iso is None:
        return None
    moment = datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(UTC)
    return moment.replace(microsecond=0).isoformat()


def _text(parent: ET.Element, tag: str, value: object, ns: str = CAP_NS) -> ET.Element:
    element = ET.SubElement(parent, f"{{{ns}}}{tag}")
    element.text = str(value)
    return element


def _pair(parent: ET.Element, tag: str, name: str, value: object) -> None:
    element = ET.SubElement(parent, f"{{{CAP_NS}}}{tag}")
    _text(element, "valueName", name)
    _text(element, "value", value)


def _certainty(alert: dict[str, Any]) -> str:
    if alert["type"] == "distress":
        return "Observed"
    score = float(alert.get("score") or 0)
    if score >= 0.8:
        return "Likely"
    if score >= 0.5:
        return "Possible"
    return "Unlikely"


def alert_element(
    alert: dict[str, Any], sender: str, sent_iso: str, addresses: Sequence[str] = ()
) -> ET.Element:
    """One CAP <alert> for one alert version."""
    root = ET.Element(f"{{{CAP_NS}}}alert")
    _text(root, "identifier", f"{alert['id']}.r{alert['revision']}")
    _text(root, "sender", sender)
    _text(root, "sent", cap_time(sent_iso))
    _text(root, "status", "Actual")
    _text(root, "msgType", "Alert" if int(alert["revision"]) == 1 else "Update")
    _text(root, "source", "Lookout")
    tlp = alert["tlp"]
    if tlp == "CLEAR":
        _text(root, "scope", "Public")
    elif tlp in ("GREEN", "AMBER"):
        _text(root, "scope", "Restricted")
        _text(root, "restriction", f"TLP:{tlp}")
    else:
        _text(root, "scope", "Private")
        _text(root, "addresses", " ".join(sorted(addresses)) or sender)
    _text(root, "code", f"TLP:{tlp}")
    if alert.get("status") and alert["status"] != "open":
        outcome = f", outcome {alert['outcome']}" if alert.get("outcome") else ""
        _text(root, "note", f"status {alert['status']}{outcome}")

    info = ET.SubElement(root, f"{{{CAP_NS}}}info")
    _text(info, "language", "en-US")
    _text(info, "category", "Rescue" if alert["type"] == "distress" else "Security")
    _text(info, "event", _EVENTS.get(alert["type"], alert["type"]))
    _text(info, "responseType", "Assess" if alert["type"] != "distress" else "Execute")
    _text(info, "urgency", _URGENCY[alert["severity"]])
    _text(info, "severity", _SEVERITY[alert["severity"]])
    _text(info, "certainty", _certainty(alert))
    _pair(info, "eventCode", "lookout:type", alert["type"])
    _text(info, "effective", cap_time(alert["detected_at"]))
    _text(info, "onset", cap_time(alert["start"]))
    _text(info, "senderName", "Lookout maritime domain awareness")
    vessel = alert.get("vessel") or {}
    who = vessel.get("name") or f"MMSI {alert['mmsi']}"
    _text(info, "headline", f"{_EVENTS.get(alert['type'], alert['type'])}: {who}"[:160])
    _text(info, "description", " ".join(alert.get("reasons") or []) or alert["type"])
    _pair(info, "parameter", "mmsi", " ".join(str(m) for m in alert.get("mmsis") or []))
    _pair(info, "parameter", "score", alert.get("score"))
    _pair(info, "parameter", "severity", alert["severity"])
    _pair(info, "parameter", "revision", alert["revision"])
    _pair(info, "parameter", "rule", f"{alert['rule']['id']}@{alert['rule']['version']}")
    area = ET.SubElement(info, f"{{{CAP_NS}}}area")
    areas = alert.get("areas") or []
    _text(
        area, "areaDesc", ", ".join(areas) if areas else f"{alert['lat']:.4f}, {alert['lon']:.4f}"
    )
    _text(area, "circle", f"{alert['lat']:.5f},{alert['lon']:.5f} {CIRCLE_RADIUS_KM}")
    return root


def alert_document(body: str, sender: str, sent_iso: str, addresses: Sequence[str] = ()) -> bytes:
    element = alert_element(orjson.loads(body), sender, sent_iso, addresses)
    document: bytes = ET.tostring(element, encoding="utf-8", xml_declaration=True)
    return document


def alert_feed(
    entries: Iterable[tuple[str, str, Sequence[str]]],
    sender: str,
    feed_id: str,
    updated_iso: str,
    next_link: str | None = None,
) -> bytes:
    """An Atom feed of CAP alerts; `entries` are (body, sent, addresses)."""
    feed = ET.Element(f"{{{ATOM_NS}}}feed")
    _text(feed, "id", feed_id, ATOM_NS)
    _text(feed, "title", "Lookout alerts", ATOM_NS)
    _text(feed, "updated", cap_time(updated_iso), ATOM_NS)
    author = ET.SubElement(feed, f"{{{ATOM_NS}}}author")
    _text(author, "name", sender, ATOM_NS)
    if next_link is not None:
        link = ET.SubElement(feed, f"{{{ATOM_NS}}}link")
        link.set("rel", "next")
        link.set("href", next_link)
    for body, sent, addresses in entries:
        alert = orjson.loads(body)
        entry = ET.SubElement(feed, f"{{{ATOM_NS}}}entry")
        _text(entry, "id", f"urn:lookout:alert:{alert['id']}:r{alert['revision']}", ATOM_NS)
        _text(entry, "title", _EVENTS.get(alert["type"], alert["type"]), ATOM_NS)
        _text(entry, "updated", cap_time(sent), ATOM_NS)
        content = ET.SubElement(entry, f"{{{ATOM_NS}}}content")
        content.set("type", MEDIA_TYPE)
        content.append(alert_element(alert, sender, sent, addresses))
    document: bytes = ET.tostring(feed, encoding="utf-8", xml_declaration=True)
    return document
