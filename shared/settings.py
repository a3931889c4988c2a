"""Configuration for every service, read from OUTGOING_* environment variables."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OUTGOING_", extra="ignore")

    kafka_bootstrap: str = "127.0.0.1:9092"
    kafka_client_id: str = "outgoing"
    topic_prefix: str = Field("outgoing", description="namespace for every topic; tests use a unique one")
    topic_partitions: int = Field(3, ge=1)
    topic_replication: int = Field(1, ge=1)
    consumers_per_topic: int = Field(
        3, ge=1, description="consumers each subscriber runs in its group; partitions are split among them, so order per key holds"
    )
    graceful_timeout_s: float = Field(15.0, gt=0, description="how long shutdown waits for in-flight messages")

    mongo_url: str = "mongodb://127.0.0.1:27017"
    mongo_db: str = "outgoing"
    mongo_timeout_ms: int = 5000

    outbox_grace_s: float = Field(30.0, ge=0, description="age after which unpublished outbox entries count as abandoned")
    outbox_scan_interval_s: float = Field(30.0, gt=0, description="how often to look for abandoned entries (a full scan on FerretDB)")

    instance_id: str = "local"
    log_level: str = "INFO"
    log_json: bool | None = Field(None, description="force JSON logs on or off; default: JSON unless stdout is a terminal")


@lru_cache
def get_settings() -> Settings:
    return Settings()
