"""/v1/admin: agencies, their agreements, keys (create, rotate, revoke), webhook secrets,
and the audit chain check. Admins only; every change is audited."""

from __future__ import annotations

from typing import Annotated, Any, Final

from fastapi import APIRouter, Path

from api.audit import AuditEvent
from api.auth import Caller
from api.context import ApiContext
from api.deps import Admin, Context
from api.keys import new_webhook_secret
from api.problems import ProblemError
from api.routes.alerts import COMMON, _problem_responses
from api.schemas import (
    AgenciesPublic,
    AgencyPublic,
    AuditCheckPublic,
    KeyCreate,
    KeyCreated,
    KeyPublic,
    KeyRotate,
    KeysPublic,
    WebhookSecretPublic,
)
from api.sharing import AgencyConfig, AgreementError, compile_agency, load_zones
from api.store import ConflictError, KeyInfo, NotFoundError, now_ms

router = APIRouter(prefix="/v1/admin", tags=["admin"])

AgencyId = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9._-]{1,62}$")]
KeyId = Annotated[str, Path(pattern=r"^[0-9a-f]{12}$")]
ERRORS: Final = {**_problem_responses(404, 409), **COMMON}


def _key_public(info: KeyInfo) -> dict[str, Any]:
    return {
        "key_id": info.key_id,
        "agency": info.agency_id,
        "roles": sorted(r.value for r in info.roles),
        "label": info.label,
        "created_at": info.created_at,
        "expires_at": info.expires_at,
        "revoked_at": info.revoked_at,
    }


def _audit(context: ApiContext, caller: Caller, action: str, **detail: Any) -> None:
    context.audit_writer.record(AuditEvent(caller.agency.id, caller.key_id, action, (), detail))


def _agencies(context: ApiContext) -> dict[str, AgencyPublic]:
    return {
        s.config.id: AgencyPublic(
            config=s.config, source=s.source, webhook_secret_set=bool(s.webhook_secret)
        )
        for s in context.store.agencies()
    }


@router.get("/agencies", response_model=AgenciesPublic, responses=COMMON)
def list_agencies(caller: Admin, context: Context) -> Any:
    data = list(_agencies(context).values())
    return {"data": data, "count": len(data)}


def _check(context: ApiContext, config: AgencyConfig) -> None:
    try:
        compile_agency(config, load_zones(context.settings.config_dir))
    except AgreementError as exc:
        raise ProblemError(422, "validation", str(exc)) from None


@router.post("/agencies", status_code=201, response_model=AgencyPublic, responses=ERRORS)
def create_agency(caller: Admin, context: Context, body: AgencyConfig) -> Any:
    if body.id in _agencies(context):
        raise ProblemError(409, "conflict", f"agency {body.id} exists: PUT to change it")
    _check(context, body)
    context.store.upsert_agency(body, "admin")
    context.reload_agencies()
    _audit(context, caller, "admin.agency.create", agency=body.id)
    return _agencies(context)[body.id]


@router.put("/agencies/{agency_id}", response_model=AgencyPublic, responses=ERRORS)
def update_agency(caller: Admin, context: Context, agency_id: AgencyId, body: AgencyConfig) -> Any:
    """Replace an agency's agreement (an agency from agencies.yaml gets the file's version
    back at the next start)."""
    if body.id != agency_id:
        raise ProblemError(422, "validation", "the body's id must match the path")
    if agency_id not in _agencies(context):
        raise ProblemError(404, "not-found", "no such agency")
    _check(context, body)
    context.store.upsert_agency(body, "admin")
    context.reload_agencies()
    _audit(context, caller, "admin.agency.update", agency=agency_id)
    return _agencies(context)[agency_id]


@router.post(
    "/agencies/{agency_id}/webhook-secret",
    status_code=201,
    response_model=WebhookSecretPublic,
    responses=ERRORS,
)
def new_secret(caller: Admin, context: Context, agency_id: AgencyId) -> Any:
    """A new signing secret for the agency's webhooks (replaces the previous one)."""
    secret = new_webhook_secret()
    try:
        context.store.set_webhook_secret(agency_id, secret)
    except NotFoundError:
        raise ProblemError(404, "not-found", "no such agency") from None
    context.reload_agencies()
    _audit(context, caller, "admin.webhook.secret", agency=agency_id)
    return {"agency": agency_id, "secret": secret}


@router.get("/agencies/{agency_id}/keys", response_model=KeysPublic, responses=ERRORS)
def list_keys(caller: Admin, context: Context, agency_id: AgencyId) -> Any:
    if context.registry.get(agency_id) is None:
        raise ProblemError(404, "not-found", "no such agency")
    data = [_key_public(k) for k in context.store.keys(agency_id)]
    return {"data": data, "count": len(data)}


@router.post(
    "/agencies/{agency_id}/keys", status_code=201, response_model=KeyCreated, responses=ERRORS
)
def create_key(caller: Admin, context: Context, agency_id: AgencyId, body: KeyCreate) -> Any:
    agency = context.registry.get(agency_id)
    if agency is None:
        raise ProblemError(404, "not-found", "no such agency")
    roles = set(body.roles) if body.roles is not None else set(agency.roles)
    if not roles or not roles <= agency.roles:
        raise ProblemError(422, "validation", "a key's roles must be some of its agency's roles")
    expires = now_ms() + body.expires_in_s * 1000 if body.expires_in_s else None
    info, key = context.store.create_key(
        agency_id, sorted(roles), _pepper(context), label=body.label, expires_at=expires
    )
    _audit(context, caller, "admin.key.create", agency=agency_id, key_id=info.key_id)
    return {**_key_public(info), "key": key}


def _pepper(context: ApiContext) -> bytes:
    return context.settings.api_key_pepper.get_secret_value().encode()


@router.post("/keys/{key_id}/rotate", status_code=201, response_model=KeyCreated, responses=ERRORS)
def rotate_key(
    caller: Admin, context: Context, key_id: KeyId, body: KeyRotate | None = None
) -> Any:
    """A new key with the same agency and roles; the old one stops working after `grace_s`."""
    old = context.store.key(key_id)
    if old is None:
        raise ProblemError(404, "not-found", "no such key")
    if old.revoked_at is not None:
        raise ProblemError(409, "conflict", "the key is revoked")
    info, key = context.store.create_key(
        old.agency_id,
        sorted(old.roles),
        _pepper(context),
        label=old.label,
        expires_at=old.expires_at,
        replaces=key_id,
    )
    grace = body.grace_s if body is not None else 0
    context.store.revoke_key(key_id, now_ms() + grace * 1000)
    context.auth.forget(key_id)
    _audit(context, caller, "admin.key.rotate", key_id=key_id, new_key_id=info.key_id)
    return {**_key_public(info), "key": key}


@router.delete("/keys/{key_id}", response_model=KeyPublic, responses=ERRORS)
def revoke_key(caller: Admin, context: Context, key_id: KeyId) -> Any:
    try:
        info = context.store.revoke_key(key_id)
    except NotFoundError:
        raise ProblemError(404, "not-found", "no such key") from None
    except ConflictError as exc:
        raise ProblemError(409, "conflict", str(exc)) from None
    context.auth.forget(key_id)
    _audit(context, caller, "admin.key.revoke", key_id=key_id)
    return _key_public(info)


@router.get("/audit/verify", response_model=AuditCheckPublic, responses=COMMON)
def verify_audit(caller: Admin, context: Context) -> Any:
    """Recompute the audit log's hash chain."""
    context.audit_writer.flush()
    check = context.audit.verify()
    return {
        "ok": check.ok,
        "entries": check.entries,
        "first_bad_seq": check.first_bad_seq,
        "reason": check.reason,
    }
