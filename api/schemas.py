"""Request and response bodies as documented in the OpenAPI schema.

Alert bodies are served as stored (pre-serialised JSON, the DESIGN.md alert schema plus
`revision`, `model_version`, `extra`), so `AlertPublic` documents them rather than building
them on each request.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from anomaly.records import AlertType, Outcome, Severity, Status, Tlp
from api.sharing import AgencyConfig, Role


class VesselPublic(BaseModel):
    name: str | None = None
    callsign: str | None = None
    imo: int | None = None
    ship_type: int | None = None
    flag: str | None = None


class RulePublic(BaseModel):
    id: str
    version: int


class AlertPublic(BaseModel):
    model_config = ConfigDict(extra="allow")

    v: int = 1
    kind: Literal["alert"] = "alert"
    id: str
    revision: int
    type: AlertType
    severity: Severity
    score: float
    mmsi: int
    mmsis: list[int]
    vessel: VesselPublic
    lat: float
    lon: float
    start: str
    end: str | None
    detected_at: str
    reasons: list[str]
    evidence: dict[str, Any] | None
    rule: RulePublic
    model_version: str | None
    tlp: Tlp
    areas: list[str]
    status: Status
    outcome: Outcome | None
    extra: dict[str, Any]


class AlertsPublic(BaseModel):
    data: list[AlertPublic]
    count: int
    next: str = Field(description="Cursor for the next poll (`after=`); opaque")


class AckRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str | None = Field(default=None, max_length=4000)


class CloseRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    outcome: Outcome
    note: str | None = Field(default=None, max_length=4000)


class NoteRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=4000)


class ShareRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    agencies: list[str] = Field(min_length=1, max_length=50)


class NotePublic(BaseModel):
    id: int
    alert_id: str
    revision: int
    agency: str
    at: int
    text: str


class NotesPublic(BaseModel):
    data: list[NotePublic]
    count: int


class AuditEntryPublic(BaseModel):
    seq: int
    at: int
    agency: str
    key_id: str
    action: str
    revision: int
    hash: str


class AuditPublic(BaseModel):
    data: list[AuditEntryPublic]
    count: int


class AuditCheckPublic(BaseModel):
    ok: bool
    entries: int
    first_bad_seq: int | None = None
    reason: str | None = None


class AgencyPublic(BaseModel):
    config: AgencyConfig
    source: str
    webhook_secret_set: bool


class AgenciesPublic(BaseModel):
    data: list[AgencyPublic]
    count: int


class KeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    roles: list[Role] | None = Field(default=None, description="Default: the agency's roles")
    label: str | None = Field(default=None, max_length=200)
    expires_in_s: int | None = Field(default=None, ge=60, le=400 * 86400)


class KeyRotate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    grace_s: int = Field(
        default=0, ge=0, le=30 * 86400, description="How long the old key keeps working"
    )


class KeyPublic(BaseModel):
    key_id: str
    agency: str
    roles: list[Role]
    label: str | None
    created_at: int
    expires_at: int | None
    revoked_at: int | None


class KeysPublic(BaseModel):
    data: list[KeyPublic]
    count: int


class KeyCreated(KeyPublic):
    key: str = Field(description="The key itself: shown this once, stored only as a hash")


class WebhookSecretPublic(BaseModel):
    agency: str
    secret: str = Field(description="The whsec_ signing secret: shown this once")


class TokenPublic(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int


class HealthPublic(BaseModel):
    status: str


class SessionPublic(BaseModel):
    """The calling agency as the map presents it (`GET /v1/me`)."""

    agency: str
    name: str
    country: str
    roles: list[Role] = Field(description="What the caller's key may do")
    sar: bool
    alert_types: list[AlertType]
    max_tlp: Tlp
    area: dict[str, Any] | None = Field(
        description="GeoJSON geometry of the agency's areas of interest; null: anywhere"
    )


class TrendWeek(BaseModel):
    week: str = Field(description="ISO 8601 week, e.g. 2024-W18")
    start: str = Field(description="Its Monday (UTC), YYYY-MM-DD")


class TrendType(BaseModel):
    type: AlertType
    count: int
    weeks: list[int] = Field(description="Counts per week, in the order of `weeks`")


class TrendArea(BaseModel):
    area: str | None = Field(description="Zone id; null: alerts in no named zone")
    name: str
    kind: str | None
    count: int
    weeks: list[int]


class TrendCell(BaseModel):
    week: str
    type: AlertType
    area: str | None
    count: int


class TrendsPublic(BaseModel):
    """Alerts the caller may see by week of their start, type and zone (`GET /v1/trends`)."""

    start: str = Field(description="First day of the first week (UTC)")
    end: str = Field(description="Day after the last week (UTC)")
    weeks: list[TrendWeek]
    total: int
    by_week: list[int]
    by_type: list[TrendType]
    by_area: list[TrendArea] = Field(description="An alert counts once in each zone it is in")
    by_severity: dict[Severity, int]
    by_status: dict[Status, int]
    outcomes: dict[Outcome, int]
    cells: list[TrendCell]
    latest: str | None = Field(
        description="Start of the newest alert the caller may see, in or out of the window"
    )
