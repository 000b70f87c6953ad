"""Dependencies of the routes, as `Annotated` aliases (FastAPI full-stack template style)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from api.auth import Caller
from api.context import ApiContext
from api.problems import ProblemError
from api.sharing import Role

bearer = HTTPBearer(
    auto_error=False,
    description="An API key, or a token from POST /v1/token",
    scheme_name="bearer",
)
api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, scheme_name="apiKey")


async def get_context(request: Request) -> ApiContext:
    context: ApiContext = request.app.state.context
    return context


Context = Annotated[ApiContext, Depends(get_context)]


async def current_caller(
    context: Context,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    api_key: Annotated[str | None, Depends(api_key_header)],
) -> Caller:
    credential = credentials.credentials if credentials is not None else api_key
    auth = context.auth
    if auth.verified_recently(credential):
        return auth.authenticate(credential)
    # A database lookup: in a reader thread, so that it never stalls the other requests.
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(context.readers, auth.authenticate, credential)


CurrentCaller = Annotated[Caller, Depends(current_caller)]


def require(*roles: Role) -> Callable[[Caller], Coroutine[Any, Any, Caller]]:
    async def check(caller: CurrentCaller) -> Caller:
        if not caller.has(*roles):
            wanted = " or ".join(r.value for r in roles)
            raise ProblemError(403, "forbidden", f"this needs the {wanted} role")
        return caller

    return check


Officer = Annotated[Caller, Depends(require(Role.OFFICER))]
Admin = Annotated[Caller, Depends(require(Role.ADMIN))]
Staff = Annotated[Caller, Depends(require(Role.OFFICER, Role.ANALYST, Role.ADMIN))]
