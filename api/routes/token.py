"""POST /v1/token: OAuth2 client credentials (RFC 6749, 4.4) -> a short-lived HS256 JWT.

`client_id` is the key id, `client_secret` the API key itself; sent in the form body or with
HTTP Basic authentication. The token carries the key's agency and roles; it stops working
when it expires or its key is revoked.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any, Final
from urllib.parse import parse_qs

from fastapi import APIRouter, Request

from api.deps import Context
from api.problems import ProblemError
from api.routes.alerts import _problem_responses
from api.schemas import TokenPublic

router = APIRouter(tags=["auth"])

FORM: Final = "application/x-www-form-urlencoded"
REQUEST_BODY: Final = {
    "required": True,
    "content": {
        FORM: {
            "schema": {
                "type": "object",
                "required": ["grant_type"],
                "properties": {
                    "grant_type": {"type": "string", "enum": ["client_credentials"]},
                    "client_id": {"type": "string"},
                    "client_secret": {"type": "string"},
                },
            }
        }
    },
}


def _bad(error: str, detail: str, status: int = 400) -> ProblemError:
    return ProblemError(status, error.replace("_", "-"), detail, error=error)


@router.post(
    "/v1/token",
    response_model=TokenPublic,
    openapi_extra={"requestBody": REQUEST_BODY},
    responses=_problem_responses(400, 401, 415),
)
async def token(request: Request, context: Context) -> Any:
    content_type = request.headers.get("content-type", "").split(";")[0].strip()
    if content_type != FORM:
        raise ProblemError(415, "unsupported-media-type", f"send {FORM}")
    raw = await request.body()
    try:
        form = {k: v[0] for k, v in parse_qs(raw.decode(), strict_parsing=False).items()}
    except UnicodeDecodeError:
        raise _bad("invalid_request", "the form is not UTF-8") from None
    if form.get("grant_type") != "client_credentials":
        raise _bad("unsupported_grant_type", "only client_credentials is supported")
    client_id, secret = form.get("client_id"), form.get("client_secret")
    basic = request.headers.get("authorization", "")
    if basic.lower().startswith("basic "):
        try:
            client_id, _, secret = base64.b64decode(basic[6:]).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise _bad("invalid_request", "malformed Basic credentials") from None
    if not client_id or not secret:
        raise _bad("invalid_client", "client_id and client_secret are required", 401)
    access, ttl = context.auth.issue_token(client_id, secret)
    return {"access_token": access, "token_type": "bearer", "expires_in": ttl}
