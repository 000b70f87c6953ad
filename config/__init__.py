"""Settings: YAML defaults from this folder, `LOOKOUT_SECTION__KEY` environment overrides,
validated once into a frozen object. Secrets come only from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

ENV_PREFIX = "LOOKOUT_"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class IngestConfig(_Frozen):
    sources: tuple[str, ...] = ()
    input_format: Literal["auto", "nmea", "csv"] = "auto"
    assembly_timeout_s: Annotated[float, Field(gt=0)] = 10
    dedup_window_s: Annotated[float, Field(ge=0)] = 20
    max_line_bytes: Annotated[int, Field(ge=128)] = 4096
    reconnect_max_s: Annotated[float, Field(gt=0)] = 30


class KafkaConfig(_Frozen):
    bootstrap: str = "127.0.0.1:9092"
    partitions: Annotated[int, Field(ge=1)] = 12
    compression: Literal["lz4", "gzip", "snappy", "zstd", "none"] = "lz4"
    session_timeout_ms: Annotated[int, Field(ge=1000)] = 10_000
    heartbeat_interval_ms: Annotated[int, Field(ge=100)] = 3000
    stop_timeout_s: Annotated[float, Field(ge=0)] = 10


class EmbeddedConfig(_Frozen):
    partitions: Annotated[int, Field(ge=1)] = 4
    replay_speed: Annotated[float, Field(ge=0)] = 30
    deadletter_path: str = "lookout-deadletters.jsonl"


class ApiConfig(_Frozen):
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 8000


class DatabaseConfig(_Frozen):
    url: str = "sqlite:///lookout.db"


class Settings(_Frozen):
    config_dir: Path
    ingest: IngestConfig = IngestConfig()
    kafka: KafkaConfig = KafkaConfig()
    embedded: EmbeddedConfig = EmbeddedConfig()
    api: ApiConfig = ApiConfig()
    database: DatabaseConfig = DatabaseConfig()


def default_config_dir() -> Path:
    return Path(str(resources.files("config")))


def load_settings(config_dir: Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Read `lookout.yaml` from `config_dir` (default: the bundled one), apply env overrides."""
    directory = config_dir or default_config_dir()
    path = directory / "lookout.yaml"
    data: dict[str, Any] = yaml.safe_load(path.read_text()) if path.exists() else {}
    data = data or {}
    _apply_env(data, os.environ if env is None else env)
    return Settings(config_dir=directory, **data)


def _apply_env(data: dict[str, Any], env: Mapping[str, str]) -> None:
    for name, raw in env.items():
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        path = name[len(ENV_PREFIX) :].lower().split("__")
        node = data
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = yaml.safe_load(raw)
