"""Configuration for every service, read from OUTGOING_* environment variables."""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from typing import Any, Literal

from pydantic import Field, SecretStr, field_serializer, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.urls import redact_url


class Settings(BaseSettings):
    # hide_input_in_errors: a settings error would otherwise quote every input, the Kafka password with them.
    model_config = SettingsConfigDict(env_prefix="OUTGOING_", extra="ignore", hide_input_in_errors=True)

    kafka_bootstrap: str = "127.0.0.1:9092"
    kafka_client_id: str = "outgoing"
    kafka_security_protocol: Literal["PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", description="SASL_SSL: log in with a SCRAM username and password over TLS (docs/security.md)"
    )
    kafka_sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256"] = "SCRAM-SHA-512"
    kafka_username: str | None = Field(None, description="the Kafka principal (User:<name>) whose ACLs apply")
    kafka_password: SecretStr | None = None
    kafka_ca_file: str | None = Field(None, description="CA bundle that signs the brokers' certificates; the system's otherwise")
    topic_prefix: str = Field("outgoing", description="namespace for every topic; tests use a unique one")
    topic_partitions: int = Field(3, ge=1)
    topic_replication: int = Field(1, ge=1)
    consumers_per_topic: int = Field(
        3, ge=1, description="consumers each subscriber runs in its group; partitions are split among them, so order per key holds"
    )
    graceful_timeout_s: float = Field(15.0, gt=0, description="how long shutdown waits for in-flight messages")

    mongo_url: str = Field(
        "mongodb://127.0.0.1:27017",
        description="may hold credentials and TLS options (docs/security.md): shown by repr, str and dumps with its password masked",
    )
    mongo_db: str = Field("outgoing", description="prefix of the databases: each service keeps its own, <mongo_db>_<service>")
    mongo_timeout_ms: int = 5000

    outbox_grace_s: float = Field(30.0, ge=0, description="age after which unpublished outbox entries count as abandoned")
    outbox_scan_interval_s: float = Field(
        30.0, gt=0, description="how often to look for abandoned entries while some are found; idle scans back off"
    )
    idle_poll_max_s: float = Field(60.0, gt=0, description="the longest an idle poller (stale outboxes) sleeps between scans")
    timer_concurrency: int = Field(8, ge=1, description="timer firings (e-mails, follow-ups) in flight at once in each service instance")
    timer_max_idle_s: float = Field(
        10.0, gt=0, description="the longest a timer runner sleeps: bounds how late a timer scheduled by another instance fires"
    )

    followup_attendance_after_s: float = Field(0.0, ge=0, description="delay after a meeting ends before the attendance check")
    followup_satisfaction_after_s: float = Field(7 * 86400.0, ge=0, description="delay after a meeting ends before the satisfaction survey")
    followup_outcome_after_s: float = Field(90 * 86400.0, ge=0, description="delay after a meeting ends before the business-outcome survey")
    followup_close_after_s: float = Field(
        30 * 86400.0, ge=0, description="how long answers to a mission's last survey are awaited before its report is published"
    )
    link_secret: SecretStr | None = Field(
        None, description="keys video room ids and survey tokens (HMAC); matching and notifications need the same one (shared/links.py)"
    )
    video_base_url: str = Field("https://meet.outgoing.example/room", description="video rooms are this URL plus a per-meeting room id")
    schedule_time_limit_s: float = Field(
        30.0, gt=0, le=480, description="default solver time limit for a mission's agenda (at most 480 s: see MAX_SOLVE_S)"
    )

    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool | None = Field(
        None, description="None: STARTTLS whenever the server offers it; true: required; false: never (credentials then refused)"
    )
    smtp_implicit_tls: bool = False
    smtp_ca_file: str | None = Field(None, description="CA bundle that signs the server's certificate; the system's otherwise")
    smtp_timeout_s: float = 30.0
    smtp_sender: str = "Outgoing <missions@outgoing.example>"
    reminder_offsets_s: list[float] = Field(
        default_factory=lambda: [86400.0, 3600.0], description="reminders this long before each meeting"
    )
    survey_base_url: str = Field(
        "https://forms.outgoing.example/followup", description="follow-up links are this URL plus meeting, company and kind"
    )
    unconfirmed_policy: dict[str, Literal["resend", "drop", "hold"]] = Field(
        default_factory=dict,
        description="per kind of message, what to do with a send the mail server did not confirm (docs/notifications.md)",
    )
    template_dir: str | None = Field(None, description="a folder whose templates override the built-in ones")

    health_port: int | None = Field(
        None, ge=0, le=65535, description="serve /livez and /readyz on this port (0: any free one); none by default"
    )
    health_host: str = "127.0.0.1"
    stuck_after_s: float = Field(120.0, gt=0, description="a partition on one unfinished offset this long is reported stuck")

    instance_id: str = "local"
    log_level: str = "INFO"
    log_json: bool | None = Field(None, description="force JSON logs on or off; default: JSON unless stdout is a terminal")

    @model_validator(mode="after")
    def _credentials_only_over_tls(self) -> Settings:
        if self.smtp_username is not None and self.smtp_starttls is False and not self.smtp_implicit_tls:
            raise ValueError("SMTP credentials are sent only over TLS: drop OUTGOING_SMTP_STARTTLS=false, or use implicit TLS")
        return self

    @model_validator(mode="after")
    def _kafka_credentials_only_over_tls(self) -> Settings:
        has_credentials = self.kafka_username is not None or self.kafka_password is not None
        if self.kafka_security_protocol == "SASL_SSL" and (not self.kafka_username or self.kafka_password is None):
            raise ValueError("OUTGOING_KAFKA_SECURITY_PROTOCOL=SASL_SSL needs OUTGOING_KAFKA_USERNAME and OUTGOING_KAFKA_PASSWORD")
        if self.kafka_security_protocol == "PLAINTEXT" and has_credentials:
            raise ValueError("Kafka credentials are sent only over TLS: set OUTGOING_KAFKA_SECURITY_PROTOCOL=SASL_SSL, or drop them")
        return self

    @field_serializer("mongo_url")
    def _mongo_url_shown(self, url: str) -> str:
        """Dumps (``model_dump``, ``model_dump_json``) never carry the database password."""
        return redact_url(url)

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        """``repr`` and ``str`` show the database URL without its password; secrets are SecretStr."""
        for name, value in super().__repr_args__():
            yield name, redact_url(value) if name == "mongo_url" and isinstance(value, str) else value

    def database_for(self, service: str) -> str:
        """Each service owns its database: no service reads or overwrites another's collections."""
        return f"{self.mongo_db}_{service}"


@lru_cache
def get_settings() -> Settings:
    return Settings()
