"""/v1/alerts: polling with cursors, one alert, the event stream, lifecycle and audit."""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, Final
from urllib.parse import parse_qsl, urlencode

import orjson
from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response, StreamingResponse
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from anomaly.records import AlertType
from api import cursor
from api.audit import AuditEvent
from api.auth import Caller
from api.context import ApiContext
from api.deps import Context, CurrentCaller, Officer, Staff
from api.formats import cap, geojson
from api.problems import MEDIA_TYPE as PROBLEM
from api.problems import ProblemError
from api.schemas import (
    AckRequest,
    AlertPublic,
    AlertsPublic,
    AuditPublic,
    CloseRequest,
    NotePublic,
    NoteRequest,
    NotesPublic,
    ShareRequest,
)
from api.sharing import visible_mask
from api.store import (
    CHANGE_ACKNOWLEDGED,
    CHANGE_CLOSED,
    CHANGE_SHARED,
    ConflictError,
    FeedItem,
    NotFoundError,
)
from ingest.records import iso_ms

router = APIRouter(prefix="/v1/alerts", tags=["alerts"])

JSON: Final = "application/json"
SSE: Final = "text/event-stream"
ALERT_ID_PATTERN: Final = r"^[A-Za-z0-9_.:-]{1,80}$"
VARY: Final = "Accept, Authorization, X-API-Key"
LIMIT_MAX: Final = 1000

AlertId = Annotated[str, Path(pattern=ALERT_ID_PATTERN, description="The alert's stable id")]
BBoxQuery = Annotated[
    str | None,
    Query(
        description="west,south,east,north in decimal degrees (WGS84)",
        max_length=100,
    ),
]
TypesQuery = Annotated[list[AlertType] | None, Query(alias="type", description="Alert types")]


def _problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {s: {"content": {PROBLEM: {}}, "description": "A problem (RFC 9457)"} for s in statuses}


COMMON: Final = _problem_responses(401, 403, 422, 429)


def negotiate(accept: str | None) -> str:
    if accept:
        if cap.MEDIA_TYPE in accept:
            return cap.MEDIA_TYPE
        if geojson.MEDIA_TYPE in accept:
            return geojson.MEDIA_TYPE
    return JSON


def parse_bbox(text: str | None) -> tuple[float, float, float, float] | None:
    if text is None or text == "":
        return None
    try:
        west, south, east, north = (float(p) for p in text.split(","))
    except ValueError:
        raise ProblemError(
            422, "validation", "bbox must be west,south,east,north (four numbers)"
        ) from None
    if not (-180 <= west <= east <= 180 and -90 <= south <= north <= 90):
        raise ProblemError(
            422, "validation", "bbox needs -180 <= west <= east <= 180, -90 <= south <= north <= 90"
        )
    return west, south, east, north


def parse_after(text: str | None) -> int:
    try:
        return cursor.decode(text)
    except cursor.CursorError as exc:
        raise ProblemError(400, "bad-cursor", str(exc)) from None


def since_ms(since: datetime | None) -> int | None:
    if since is None:
        return None
    moment = since if since.tzinfo else since.replace(tzinfo=UTC)
    try:
        return int(moment.timestamp() * 1000)
    except (OverflowError, ValueError, OSError):
        raise ProblemError(422, "validation", "since is out of range") from None


def etag_of(*parts: object) -> str:
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=12).hexdigest()
    return f'"{digest}"'


def matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
    return etag in tags or "*" in tags


def addresses(context: ApiContext, item: FeedItem) -> list[str]:
    """For CAP Private scope: the agencies entitled to this version."""
    agencies = context.registry.all()
    mask = [visible_mask(a, [item.shareable])[0] for a in agencies]
    return [a.id for a, ok in zip(agencies, mask, strict=True) if ok]


def render(
    context: ApiContext, fmt: str, items: Sequence[FeedItem], next_cursor: str, link: str
) -> bytes:
    if fmt == JSON:
        bodies = b",".join(i.body.encode() for i in items)
        return b'{"data":[%s],"count":%d,"next":"%s"}' % (bodies, len(items), next_cursor.encode())
    if fmt == geojson.MEDIA_TYPE:
        return orjson.dumps(geojson.alert_collection([i.body for i in items], next_cursor))
    updated = iso_ms(max((i.committed_at for i in items), default=int(time.time() * 1000)))
    entries = [(i.body, iso_ms(i.committed_at), addresses(context, i)) for i in items]
    return cap.alert_feed(entries, context.settings.cap_sender, "urn:lookout:alerts", updated, link)


def record_read(
    context: ApiContext,
    caller: Caller,
    action: str,
    items: Sequence[FeedItem],
    channel: str,
    detail: dict[str, Any] | None = None,
) -> None:
    if not items:
        return
    context.audit_writer.record(
        AuditEvent(
            caller.agency.id,
            caller.key_id,
            action,
            tuple((i.alert_id, i.revision) for i in items),
            detail,
        )
    )
    context.metrics.count_shared(caller.agency.id, channel, len(items))


ALERT_CONTENT: Final = {
    geojson.MEDIA_TYPE: {"schema": {"type": "object"}},
    cap.MEDIA_TYPE: {"schema": {"type": "string"}},
}


@router.get(
    "",
    summary="Poll alerts after a cursor",
    response_model=None,
    responses={
        200: {"model": AlertsPublic, "content": ALERT_CONTENT},
        304: {"description": "Not modified (If-None-Match)"},
        **_problem_responses(400),
        **COMMON,
    },
)
async def list_alerts(
    request: Request,
    caller: CurrentCaller,
    context: Context,
    after: Annotated[str | None, Query(max_length=64, description="Cursor from `next`")] = None,
    limit: Annotated[int | None, Query(ge=1, le=LIMIT_MAX)] = None,
    types: TypesQuery = None,
    bbox: BBoxQuery = None,
    since: Annotated[datetime | None, Query(description="Stored at or after (ISO 8601)")] = None,
    accept: Annotated[str | None, Header(include_in_schema=False)] = None,
    if_none_match: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Response:
    """Alert versions (new revisions and lifecycle changes) the caller may see, in commit
    order, after `after`. Keep `next` and send it back as `after`: no version is ever skipped
    or repeated, even one committed late by a concurrent writer."""
    poll = Poll(
        caller,
        request.url.path,
        [(k, v) for k, v in request.query_params.multi_items() if k != "after"],
        parse_after(after),
        min(limit or context.settings.page_limit_default, context.settings.page_limit_max),
        negotiate(accept),
        if_none_match,
        [t.value for t in types or ()],
        parse_bbox(bbox),
        since_ms(since),
    )
    return await asyncio.get_running_loop().run_in_executor(context.readers, poll.answer, context)


@dataclass(frozen=True, slots=True)
class Poll:
    """One validated poll, answered in a reader thread (`answer`): by `list_alerts`, or by
    `PollFastPath` for the plain ones."""

    caller: Caller
    path: str
    query: list[tuple[str, str]]  # the query string without `after`, for Link and ETag
    after: int
    limit: int
    fmt: str
    if_none_match: str | None
    types: list[str] = field(default_factory=list)
    bbox: tuple[float, float, float, float] | None = None
    since_ms: int | None = None

    def answer(self, context: ApiContext) -> Response:
        caller = self.caller
        page = context.store.page(
            caller.agency,
            self.after,
            self.limit,
            types=self.types,
            bbox=self.bbox,
            since_ms=self.since_ms,
        )
        next_cursor = cursor.encode(page.next_seq)
        link = f"{self.path}?{urlencode([*self.query, ('after', next_cursor)])}"
        tag = etag_of(
            self.fmt, caller.agency.id, self.query, page.next_seq, [i.seq for i in page.items]
        )
        headers = {
            "ETag": tag,
            "Link": f'<{link}>; rel="next"',
            "Vary": VARY,
            "Cache-Control": "private, no-cache",
        }
        if matches(self.if_none_match, tag):
            return Response(status_code=304, headers=headers)
        content = render(context, self.fmt, page.items, next_cursor, link)
        record_read(context, caller, "read.list", page.items, "poll")
        return Response(content, media_type=self.fmt, headers=headers)


_PLAIN_LIMIT: Final = re.compile(r"[1-9][0-9]{0,3}")


class PollFastPath:
    """Pure ASGI middleware: answers the plain polls (`GET /v1/alerts`, nothing in the query
    but `after` and `limit`, an API key verified within the auth cache period) without
    FastAPI's routing and dependency solving, which cost about twice the poll itself
    (benchmarks/bench_api.py). Everything else, and any request it is not sure of, goes on
    to FastAPI, so every error, every other parameter and the OpenAPI schema stay
    `list_alerts`'s; for what it answers, the answer is `list_alerts`'s too (`Poll`, and
    tests/unit/test_api_behaviour.py compares them)."""

    def __init__(self, app: ASGIApp, context: ApiContext) -> None:
        self.app = app
        self.context = context
        # `list_alerts`'s route, for the latency metrics' route template.
        self.route = next(r for r in router.routes if getattr(r, "endpoint", None) is list_alerts)

    def _poll(self, scope: Scope) -> Poll | None:
        if (
            scope["type"] != "http"
            or scope["method"] != "GET"
            or scope["path"] != "/v1/alerts"
            or scope.get("root_path")
        ):
            return None
        params = parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)
        values = dict(params)
        if len(values) != len(params) or not values.keys() <= {"after", "limit"}:
            return None
        after_text, limit_text = values.get("after"), values.get("limit")
        if limit_text is not None and (
            not _PLAIN_LIMIT.fullmatch(limit_text) or int(limit_text) > LIMIT_MAX
        ):
            return None
        try:
            after = cursor.decode(after_text) if after_text else 0
        except cursor.CursorError:
            return None
        headers = Headers(scope=scope)
        # As `current_caller` reads them (FastAPI's HTTPBearer, then the X-API-Key header).
        authorization = headers.get("authorization") or ""
        scheme, _, bearer = authorization.partition(" ")
        if scheme.lower() == "bearer" and bearer.strip():
            credential = bearer.strip()
        else:
            credential = headers.get("x-api-key") or ""
        auth = self.context.auth
        if not credential or "." in credential or not auth.verified_recently(credential):
            return None
        try:
            caller = auth.authenticate(credential)
        except ProblemError:
            return None  # 401 or 429: list_alerts says so
        settings = self.context.settings
        size = int(limit_text) if limit_text else settings.page_limit_default
        return Poll(
            caller,
            "/v1/alerts",
            [(k, v) for k, v in params if k != "after"],
            after,
            min(size, settings.page_limit_max),
            negotiate(headers.get("accept")),
            headers.get("if-none-match"),
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        poll = self._poll(scope)
        if poll is None:
            await self.app(scope, receive, send)
            return
        scope["route"] = self.route
        loop = asyncio.get_running_loop()
        response = await loop.run_in_executor(self.context.readers, poll.answer, self.context)
        await response(scope, receive, send)


@router.get(
    "/stream",
    summary="Server-sent events: every visible alert version as it is stored",
    response_model=None,
    responses={
        200: {"content": {SSE: {"schema": {"type": "string"}}}, "description": "Event stream"},
        **_problem_responses(400),
        **COMMON,
    },
)
async def stream_alerts(
    request: Request,
    caller: CurrentCaller,
    context: Context,
    after: Annotated[str | None, Query(max_length=64)] = None,
    types: TypesQuery = None,
    bbox: BBoxQuery = None,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=64)] = None,
) -> StreamingResponse:
    """Each event: `id` (a cursor: send it back as `Last-Event-ID` to resume), `event: alert`,
    `data` (the alert). Resumes exactly where the last event received left off."""
    position = parse_after(last_event_id or after)
    box = parse_bbox(bbox)
    type_values = [t.value for t in types or ()]

    async def events() -> AsyncIterator[bytes]:
        nonlocal position
        yield b"retry: 3000\n\n"
        last_sent = time.monotonic()
        settings = context.settings
        while not context.stopping.is_set():
            page = await run_in_threadpool(
                context.store.page, caller.agency, position, 100, types=type_values, bbox=box
            )
            if page.items:
                record_read(context, caller, "read.stream", page.items, "stream")
                chunk = b"".join(
                    b"id: %s\nevent: alert\ndata: %s\n\n"
                    % (cursor.encode(i.seq).encode(), i.body.encode())
                    for i in page.items
                )
                yield chunk
                last_sent = time.monotonic()
            position = page.next_seq
            if len(page.items) < 100:
                if time.monotonic() - last_sent >= settings.stream_heartbeat_s:
                    yield b": keep-alive\n\n"
                    last_sent = time.monotonic()
                if await request.is_disconnected():
                    return
                await asyncio.sleep(settings.stream_poll_s)

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(events(), media_type=SSE, headers=headers)


def visible_current(context: ApiContext, caller: Caller, alert_id: str) -> FeedItem:
    item = context.store.current(alert_id)
    if item is None or not visible_mask(caller.agency, [item.shareable])[0]:
        raise ProblemError(404, "not-found", "no such alert")  # the same whether hidden or absent
    return item


@router.get(
    "/{alert_id}",
    summary="One alert (its latest version)",
    response_model=None,
    responses={
        200: {"model": AlertPublic, "content": ALERT_CONTENT},
        304: {"description": "Not modified (If-None-Match)"},
        **_problem_responses(404),
        **COMMON,
    },
)
def get_alert(
    caller: CurrentCaller,
    context: Context,
    alert_id: AlertId,
    accept: Annotated[str | None, Header(include_in_schema=False)] = None,
    if_none_match: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Response:
    item = visible_current(context, caller, alert_id)
    fmt = negotiate(accept)
    tag = etag_of(fmt, item.seq)
    headers = {"ETag": tag, "Vary": VARY, "Cache-Control": "private, no-cache"}
    if matches(if_none_match, tag):
        return Response(status_code=304, headers=headers)
    record_read(context, caller, "read.get", [item], "get")
    if fmt == JSON:
        content = item.body.encode()
    elif fmt == geojson.MEDIA_TYPE:
        content = orjson.dumps(geojson.alert_feature(item.body))
    else:
        content = cap.alert_document(
            item.body,
            context.settings.cap_sender,
            iso_ms(item.committed_at),
            addresses(context, item),
        )
    return Response(content, media_type=fmt, headers=headers)


def _changed(
    context: ApiContext, caller: Caller, alert_id: str, change: str, **kw: Any
) -> Response:
    visible_current(context, caller, alert_id)
    try:
        item = context.store.change(alert_id, change, caller.agency.id, caller.key_id, **kw)
    except NotFoundError:
        raise ProblemError(404, "not-found", "no such alert") from None
    except ConflictError as exc:
        raise ProblemError(409, "conflict", str(exc)) from None
    detail = {k: (v.value if hasattr(v, "value") else v) for k, v in kw.items() if v}
    context.audit_writer.record(
        AuditEvent(
            caller.agency.id,
            caller.key_id,
            f"alert.{change}",
            ((item.alert_id, item.revision),),
            detail or None,
        )
    )
    return Response(item.body.encode(), media_type=JSON)


LIFECYCLE: Final = {200: {"model": AlertPublic}, **_problem_responses(404, 409), **COMMON}


@router.post(
    "/{alert_id}/ack", summary="Acknowledge (officers)", response_model=None, responses=LIFECYCLE
)
def acknowledge(
    caller: Officer, context: Context, alert_id: AlertId, body: AckRequest | None = None
) -> Response:
    note = body.note if body is not None else None
    visible_current(context, caller, alert_id)
    if note:
        context.store.add_note(alert_id, caller.agency.id, caller.key_id, note)
    return _changed(context, caller, alert_id, CHANGE_ACKNOWLEDGED, detail=note)


@router.post(
    "/{alert_id}/close",
    summary="Close with an outcome (officers)",
    response_model=None,
    responses=LIFECYCLE,
)
def close(caller: Officer, context: Context, alert_id: AlertId, body: CloseRequest) -> Response:
    """The outcome (rescued, interdicted, no_action, false_alarm) is kept as a training label."""
    visible_current(context, caller, alert_id)
    if body.note:
        context.store.add_note(alert_id, caller.agency.id, caller.key_id, body.note)
    return _changed(
        context, caller, alert_id, CHANGE_CLOSED, outcome=body.outcome, detail=body.note
    )


@router.post(
    "/{alert_id}/share",
    summary="Name more recipients (officers of the owner)",
    response_model=None,
    responses=LIFECYCLE,
)
def share(caller: Officer, context: Context, alert_id: AlertId, body: ShareRequest) -> Response:
    """Named recipients receive the alert whatever its marking (TLP RED is shared this way)."""
    if caller.agency.id != context.registry.operator:
        raise ProblemError(403, "forbidden", "only the owning agency names recipients")
    unknown = sorted(a for a in body.agencies if context.registry.get(a) is None)
    if unknown:
        raise ProblemError(422, "validation", f"unknown agencies: {', '.join(unknown)}")
    return _changed(context, caller, alert_id, CHANGE_SHARED, share_with=tuple(body.agencies))


@router.post(
    "/{alert_id}/notes",
    summary="Add a note (officers)",
    status_code=201,
    response_model=NotePublic,
    responses={**_problem_responses(404), **COMMON},
)
def add_note(caller: Officer, context: Context, alert_id: AlertId, body: NoteRequest) -> Any:
    visible_current(context, caller, alert_id)
    try:
        note = context.store.add_note(alert_id, caller.agency.id, caller.key_id, body.text)
    except NotFoundError:
        raise ProblemError(404, "not-found", "no such alert") from None
    context.audit_writer.record(
        AuditEvent(
            caller.agency.id,
            caller.key_id,
            "alert.note",
            ((alert_id, note["revision"]),),
            {"note_id": note["id"]},
        )
    )
    return note


@router.get(
    "/{alert_id}/notes",
    summary="An alert's notes (officers, analysts, admins)",
    response_model=NotesPublic,
    responses={**_problem_responses(404), **COMMON},
)
def list_notes(caller: Staff, context: Context, alert_id: AlertId) -> Any:
    visible_current(context, caller, alert_id)
    notes = context.store.notes(alert_id)
    return {"data": notes, "count": len(notes)}


@router.get(
    "/{alert_id}/audit",
    summary="Who read or changed this alert (the owning agency)",
    response_model=AuditPublic,
    responses={**_problem_responses(404), **COMMON},
)
def alert_audit(caller: Staff, context: Context, alert_id: AlertId) -> Any:
    item = visible_current(context, caller, alert_id)
    if item.shareable.owner != caller.agency.id:
        raise ProblemError(403, "forbidden", "only the owning agency reads an alert's audit")
    context.audit_writer.flush()
    entries = context.audit.for_alert(alert_id)
    return {"data": entries, "count": len(entries)}
