"""Who is calling: API keys (`Authorization: Bearer <key>` or `X-API-Key`), or short-lived
OAuth2 client-credentials tokens (HS256 JWTs issued by `POST /v1/token`); and how often they
may call (a token bucket per key, in memory: 429 with `Retry-After` when empty)."""

from __future__ import annotations

import hashlib
import math
import threading
import time
from dataclasses import dataclass
from typing import Any, Final

import jwt

from api.keys import hash_key
from api.problems import ProblemError
from api.sharing import Agency, Registry, Role
from api.store import AlertStore, KeyInfo, now_ms

TOKEN_ISSUER: Final = "lookout"
TOKEN_AUDIENCE: Final = "lookout-api"
_ROLE_VALUES: Final = frozenset(r.value for r in Role)


@dataclass(frozen=True, slots=True)
class Caller:
    agency: Agency
    key_id: str
    roles: frozenset[Role]
    via: str  # key | token

    def has(self, *roles: Role) -> bool:
        return any(r in self.roles for r in roles)


def unauthorized(detail: str) -> ProblemError:
    return ProblemError(
        401, "unauthorized", detail, headers={"WWW-Authenticate": 'Bearer realm="lookout"'}
    )


class RateLimiter:
    """A token bucket per key: `rate` requests a second on average, bursts of `burst`."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str, now: float | None = None) -> float:
        """0 when allowed; otherwise the seconds to wait."""
        moment = time.monotonic() if now is None else now
        with self._lock:
            tokens, last = self._buckets.get(key, (float(self.burst), moment))
            tokens = min(float(self.burst), tokens + (moment - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, moment)
                return 0.0
            self._buckets[key] = (tokens, moment)
            return (1.0 - tokens) / self.rate


class Authenticator:
    def __init__(
        self,
        store: AlertStore,
        registry: Registry,
        pepper: bytes,
        jwt_key: bytes,
        *,
        cache_ttl_s: float = 5.0,
        limiter: RateLimiter | None = None,
        token_ttl_s: int = 300,
    ) -> None:
        self.store = store
        self.registry = registry
        self.pepper = pepper
        self.jwt_key = jwt_key
        self.cache_ttl_s = cache_ttl_s
        self.limiter = limiter
        self.token_ttl_s = token_ttl_s
        # HMAC of the presented key -> (valid until, key info); never the key itself.
        self._cache: dict[str, tuple[float, KeyInfo]] = {}
        self._lock = threading.Lock()

    def forget(self, key_id: str) -> None:
        with self._lock:
            for digest in [d for d, (_, info) in self._cache.items() if info.key_id == key_id]:
                del self._cache[digest]

    def verified_recently(self, credential: str | None) -> bool:
        """Whether `authenticate(credential)` can answer from memory: an API key verified
        within the cache period. Otherwise it asks the database (a token's key, a key not seen
        lately): the caller should then call it off the event loop."""
        if not credential or credential.count(".") == 2:
            return not credential
        cached = self._cache.get(hash_key(credential, self.pepper))
        return cached is not None and cached[0] > time.monotonic() and cached[1].usable(now_ms())

    def key_info(self, key: str) -> KeyInfo | None:
        digest = hash_key(key, self.pepper)
        now = time.monotonic()
        cached = self._cache.get(digest)
        if cached is not None and cached[0] > now and cached[1].usable(now_ms()):
            return cached[1]
        info = self.store.verify_key(key, self.pepper)
        with self._lock:
            if info is None:
                self._cache.pop(digest, None)
            else:
                if len(self._cache) > 100_000:
                    self._cache.clear()
                self._cache[digest] = (now + self.cache_ttl_s, info)
        return info

    def authenticate(self, credential: str | None) -> Caller:
        if not credential:
            raise unauthorized("an API key (Authorization: Bearer or X-API-Key) is required")
        if credential.count(".") == 2:
            caller = self._from_token(credential)
        else:
            info = self.key_info(credential)
            if info is None:
                raise unauthorized("the API key is not valid, expired or revoked")
            caller = self._caller(info, "key")
        if self.limiter is not None:
            wait = self.limiter.take(caller.key_id)
            if wait > 0:
                raise ProblemError(
                    429,
                    "rate-limited",
                    "too many requests for this key",
                    headers={"Retry-After": str(max(1, math.ceil(wait)))},
                )
        return caller

    def _caller(self, info: KeyInfo, via: str) -> Caller:
        agency = self.registry.get(info.agency_id)
        if agency is None or not agency.config.active:
            raise unauthorized("the agency is unknown or suspended")
        roles = frozenset(r for r in info.roles if r in agency.roles)
        return Caller(agency, info.key_id, roles, via)

    # -- OAuth2 client credentials ---------------------------------------------------------
    def issue_token(self, client_id: str, client_secret: str) -> tuple[str, int]:
        info = self.key_info(client_secret)
        if info is None or info.key_id != client_id:
            raise ProblemError(
                401, "invalid-client", "unknown client or wrong secret", error="invalid_client"
            )
        issued = int(time.time())
        claims: dict[str, Any] = {
            "iss": TOKEN_ISSUER,
            "aud": TOKEN_AUDIENCE,
            "sub": info.key_id,
            "agency": info.agency_id,
            "roles": sorted(r.value for r in info.roles),
            "iat": issued,
            "exp": issued + self.token_ttl_s,
            "jti": hashlib.sha256(
                f"{info.key_id}|{issued}|{time.perf_counter_ns()}".encode()
            ).hexdigest()[:16],
        }
        return jwt.encode(claims, self.jwt_key, algorithm="HS256"), self.token_ttl_s

    def _from_token(self, token: str) -> Caller:
        try:
            claims = jwt.decode(
                token,
                self.jwt_key,
                algorithms=["HS256"],
                audience=TOKEN_AUDIENCE,
                issuer=TOKEN_ISSUER,
                options={"require": ["exp", "iat", "sub", "aud", "iss"]},
            )
        except jwt.PyJWTError as exc:
            raise unauthorized(f"the token is not valid: {exc}") from exc
        info = self.store.key(str(claims["sub"]))
        if info is None or not info.usable(now_ms()):
            raise unauthorized("the token's key was revoked or has expired")
        token_roles = frozenset(Role(r) for r in claims.get("roles", []) if r in _ROLE_VALUES)
        caller = self._caller(info, "token")
        return Caller(caller.agency, caller.key_id, caller.roles & token_roles, "token")
