"""API settings: one frozen object, built from keyword arguments or the environment.

Secrets come only from the environment (`LOOKOUT_API_KEY_PEPPER`, `LOOKOUT_API_JWT_SECRET`).
Outside development a missing or placeholder secret is refused at start-up, as the FastAPI
full-stack template does: a deployment that forgot to set it must not run with a known value.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from config import default_config_dir

PLACEHOLDER_SECRETS: Final = frozenset(
    {"", "changethis", "change-me", "changeme", "placeholder", "secret", "password", "dev-pepper"}
)
DEV_PEPPER: Final = "changethis"
MIN_SECRET_LENGTH: Final = 32


class SecretError(ValueError):
    """A secret is missing, a known placeholder or too short outside development."""


class ApiSettings(BaseModel):
    """Everything the API needs; `ApiSettings.from_env()` reads `LOOKOUT_API_*` variables."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    db_url: str = "sqlite:///lookout.db"
    environment: Literal["development", "production"] = "development"
    operator_agency: str = "lookout-ops"
    """The agency that produces (and so owns) the alerts: AMBER+STRICT stays within it."""
    config_dir: Path = Field(default_factory=default_config_dir)
    api_key_pepper: SecretStr = SecretStr(DEV_PEPPER)
    jwt_secret: SecretStr | None = None
    """HS256 key of the OAuth2 tokens; derived from the pepper when not set."""
    token_ttl_s: Annotated[int, Field(ge=30, le=3600)] = 300
    rate_limit_per_s: Annotated[float, Field(gt=0)] = 20.0
    rate_limit_burst: Annotated[int, Field(ge=1)] = 60
    page_limit_default: Annotated[int, Field(ge=1)] = 100
    page_limit_max: Annotated[int, Field(ge=1)] = 1000
    auth_cache_ttl_s: Annotated[float, Field(ge=0)] = 5.0
    """How long a verified key is trusted without asking the database (revocation delay
    for other processes; the process that revokes forgets the key at once)."""
    agencies_refresh_s: Annotated[float, Field(gt=0)] = 10.0
    audit_flush_interval_s: Annotated[float, Field(gt=0)] = 0.2
    stream_poll_s: Annotated[float, Field(gt=0)] = 0.5
    stream_heartbeat_s: Annotated[float, Field(gt=0)] = 15.0
    webhooks_enabled: bool = True
    webhook_poll_s: Annotated[float, Field(gt=0)] = 0.5
    webhook_timeout_s: Annotated[float, Field(gt=0)] = 5.0
    webhook_backoff_base_s: Annotated[float, Field(gt=0)] = 2.0
    webhook_backoff_max_s: Annotated[float, Field(gt=0)] = 3600.0
    webhook_lease_s: Annotated[float, Field(gt=0)] = 60.0
    cap_sender: str = "lookout@lookout-ops"
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 8000

    @model_validator(mode="after")
    def _refuse_placeholders(self) -> ApiSettings:
        for name in ("api_key_pepper", "jwt_secret"):
            secret: SecretStr | None = getattr(self, name)
            if secret is None:
                continue
            value = secret.get_secret_value()
            if value.lower() in PLACEHOLDER_SECRETS or len(value) < MIN_SECRET_LENGTH:
                message = (
                    f"{name} is a placeholder or shorter than {MIN_SECRET_LENGTH} characters: "
                    f"set LOOKOUT_{name.upper()} to a long random value "
                    '(python -c "import secrets; print(secrets.token_urlsafe(48))")'
                )
                if self.environment != "development":
                    raise SecretError(message)
                warnings.warn(message, stacklevel=2)
        return self

    @property
    def jwt_key(self) -> bytes:
        import hashlib

        if self.jwt_secret is not None:
            return self.jwt_secret.get_secret_value().encode()
        pepper = self.api_key_pepper.get_secret_value().encode()
        return hashlib.sha256(b"lookout-jwt|" + pepper).digest()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> ApiSettings:
        """Settings from `LOOKOUT_API_*` variables (e.g. `LOOKOUT_API_DB_URL`), then overrides.

        The pepper is `LOOKOUT_API_KEY_PEPPER`, the environment `LOOKOUT_ENV`."""
        source = os.environ if env is None else env
        values: dict[str, Any] = {}
        for field in cls.model_fields:
            name = "LOOKOUT_" + field.upper() if field == "api_key_pepper" else None
            name = name or "LOOKOUT_API_" + field.upper()
            if name in source:
                values[field] = source[name]
        if "LOOKOUT_ENV" in source:
            values["environment"] = source["LOOKOUT_ENV"]
        values.update(overrides)
        return cls(**values)
