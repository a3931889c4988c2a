"""Wiring of the registration service: store, use cases, subscribers and the outbox."""

from __future__ import annotations

from datetime import timedelta

from faststream import FastStream

from services.registration import handlers
from services.registration.contact_names import feed_known_names
from services.registration.orientation import Orientation
from services.registration.store import INDEXES, OWNER_KEYS, RegistrationStore
from services.registration.use_cases import Registration
from shared.contracts.topics import Topic
from shared.outbox import Outbox, StaleOutboxScanner, ask_owners
from shared.service import BackgroundLoop, Runtime, build_service
from shared.settings import Settings

SERVICE = "registration"


def create_app(settings: Settings | None = None, configure_logs: bool = True) -> tuple[FastStream, Runtime]:
    settings = settings or Settings()

    def register(runtime: Runtime) -> list[BackgroundLoop]:
        store = RegistrationStore(runtime.db)
        feed_known_names(store)  # its log lines mask the contact names it handles
        outbox = Outbox(runtime.db, runtime.broker, runtime.topics)
        handlers.register(runtime, Registration(store, instance=settings.instance_id), Orientation(store), outbox)
        scanner = StaleOutboxScanner(
            runtime.db,
            OWNER_KEYS,
            ask_owners(runtime.broker, runtime.topics(Topic.REGISTRATION_COMMANDS), OWNER_KEYS, source=f"/outgoing/{SERVICE}"),
            grace=timedelta(seconds=settings.outbox_grace_s),
            interval_s=settings.outbox_scan_interval_s,
            max_interval_s=settings.idle_poll_max_s,
        )
        runtime.views["figures"] = store.figures
        return [scanner.run_forever]

    return build_service(
        SERVICE, settings, dead_letter_topic=Topic.REGISTRATION_DLQ, indexes=INDEXES, register=register, configure_logs=configure_logs
    )
