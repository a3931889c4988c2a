"""Wiring of the notifications service: store, use cases, timer runner, SMTP, outbox."""

from __future__ import annotations

from datetime import timedelta

from faststream import FastStream

from services.notifications import handlers
from services.notifications.composing import Composer
from services.notifications.contact_names import ContactNamesStore
from services.notifications.rendering import Renderer
from services.notifications.smtp import Mailer, SmtpMailer
from services.notifications.store import DELIVERIES, INDEXES, TIMERS
from services.notifications.use_cases import DeliveryPolicy, Notifications
from shared.contracts.topics import Topic
from shared.links import link_keys
from shared.outbox import Outbox, StaleOutboxScanner, flush_here
from shared.service import BackgroundLoop, Runtime, build_service
from shared.settings import Settings
from shared.timers import Clock, TimerRunner, TimerStore, utc_now

SERVICE = "notifications"


def create_app(
    settings: Settings | None = None,
    configure_logs: bool = True,
    *,
    clock: Clock = utc_now,
    mailer: Mailer | None = None,
    poll_interval_s: float = 1.0,
    policy: DeliveryPolicy | None = None,
) -> tuple[FastStream, Runtime]:
    """``clock``, ``mailer``, ``poll_interval_s`` and ``policy`` exist for tests and demos."""
    settings = settings or Settings()

    def register(runtime: Runtime) -> list[BackgroundLoop]:
        store = ContactNamesStore(runtime.db)  # its log lines mask the contact names it handles
        timers = TimerStore(runtime.db, TIMERS, clock=clock, max_attempts=50)
        outbox = Outbox(runtime.db, runtime.broker, runtime.topics)
        notifications = Notifications(
            store,
            timers,
            Composer(store, Renderer(settings.template_dir), settings.smtp_sender, settings.survey_base_url, clock, link_keys(settings)),
            mailer or SmtpMailer.from_settings(settings),
            outbox.flush,
            clock,
            list(settings.reminder_offsets_s),
            policy or DeliveryPolicy(unconfirmed=tuple(settings.unconfirmed_policy.items())),
        )
        handlers.register(runtime, notifications)
        handlers.register_operator_commands(runtime, notifications)
        runner = TimerRunner(
            timers,
            notifications.fire,
            settings.instance_id,
            lease=timedelta(seconds=max(120.0, settings.smtp_timeout_s * 3)),
            poll_interval_s=poll_interval_s,
            max_idle_s=max(poll_interval_s, settings.timer_max_idle_s),
            concurrency=settings.timer_concurrency,
        )
        # A delivery document gets its outbox entries only in its final write: no command topic is needed.
        scanner = StaleOutboxScanner(
            runtime.db,
            [DELIVERIES],
            flush_here(outbox),
            grace=timedelta(seconds=settings.outbox_grace_s),
            interval_s=settings.outbox_scan_interval_s,
            max_interval_s=settings.idle_poll_max_s,
        )
        runtime.components["timer_runner"] = runner
        runtime.views["figures"] = store.figures
        return [runner.run_forever, scanner.run_forever]

    app, runtime = build_service(
        SERVICE, settings, dead_letter_topic=Topic.NOTIFICATIONS_DLQ, indexes=INDEXES, register=register, configure_logs=configure_logs
    )
    return app, runtime
