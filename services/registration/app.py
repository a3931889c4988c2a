"""Wiring of the registration service: settings, broker, database, subscribers."""

from __future__ import annotations

from faststream import FastStream

from shared.contracts.topics import Topic
from shared.service import Runtime, build_service
from shared.settings import Settings

SERVICE = "registration"


def create_app(settings: Settings | None = None, configure_logs: bool = True) -> tuple[FastStream, Runtime]:
    return build_service(
        SERVICE,
        settings or Settings(),
        dead_letter_topic=Topic.REGISTRATION_DLQ,
        configure_logs=configure_logs,
    )
