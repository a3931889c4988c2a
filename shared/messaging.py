"""The at-least-once KafkaBroker every service uses, and how its subscribers consume.

Delivery semantics are set on purpose, because the defaults lose messages:

* the producer is idempotent with ``acks=all``;
* subscribers commit only after the handler returns (``AckPolicy.NACK_ON_ERROR``); a
  failure seeks back so the record is consumed again rather than skipped;
* new consumer groups start from the earliest offset;
* shutdown waits ``graceful_timeout`` for in-flight messages.

Around every handler, two middlewares run:

* ``LogContextMiddleware`` binds event id, correlation id, topic, partition and offset
  to structlog's context for the duration of the message;
* ``DeadLetterMiddleware`` sends undecodable or invalid messages to the service's
  dead-letter topic with the reason and the original bytes, retries transient failures
  with backoff, and dead-letters a message whose handler keeps failing for another
  reason, so one message can never stall or kill a consumer.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import inspect
import json
import logging
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar, get_args, get_origin, get_type_hints

import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    NotLeaderForPartitionError,
    RequestTimedOutError,
)
from faststream import AckPolicy, BaseMiddleware
from faststream.kafka import KafkaBroker
from faststream.message import StreamMessage
from pydantic import TypeAdapter, ValidationError
from pymongo.errors import AutoReconnect, ConnectionFailure, NetworkTimeout, ServerSelectionTimeoutError, WTimeoutError

from shared.aggregate import Refused
from shared.contracts.catalog import EVENT_TYPES
from shared.contracts.channels import CHANNELS
from shared.contracts.envelope import CONTENT_TYPE, Envelope, find_mongo_operator, from_legacy
from shared.kafka import broker_security
from shared.logging import get_logger
from shared.settings import Settings

log = get_logger("outgoing.messaging")

GROUP_TOPIC_SEPARATOR = "/"
"""Consumer groups are ``<prefix>.<service>/<topic>``; not ``@``, which log redaction would take for an e-mail address."""

HEADER_CONTENT_TYPE = "content-type"
HEADER_EVENT_ID = "x-event-id"
HEADER_EVENT_TYPE = "x-event-type"
HEADER_CORRELATION_ID = "correlation_id"
"""FastStream's own correlation header; it carries the event's ``correlationid``, so a record has one correlation id."""
DEAD_LETTER_CONTENT_TYPE = "application/octet-stream"
"""A dead letter's value is the original record's bytes, whatever they were."""

DLQ_REASON = "x-dlq-reason"
DLQ_ERRORS = "x-dlq-errors"
DLQ_SOURCE_TOPIC = "x-dlq-source-topic"
DLQ_SOURCE_PARTITION = "x-dlq-source-partition"
DLQ_SOURCE_OFFSET = "x-dlq-source-offset"
DLQ_SERVICE = "x-dlq-service"
DLQ_GROUP = "x-dlq-group"
DLQ_TIME = "x-dlq-time"
DLQ_TRUNCATED = "x-dlq-truncated"
DLQ_ORIGINAL_SIZE = "x-dlq-original-size"

DLQ_MAX_BODY = 900_000
"""Bytes of the original record a dead letter carries whole. Kafka's default record limit is
1 MiB and the dead letter's headers come on top; a longer body is dead-lettered as a
reference (source topic, partition, offset, size, reason) with its first ``DLQ_TRUNCATED_BODY`` bytes."""
DLQ_TRUNCATED_BODY = 64 * 1024

UNPARSABLE = (ValueError, UnicodeDecodeError, RecursionError, AttributeError, TypeError)
"""What parsing arbitrary bytes as JSON can raise: deep nesting is a RecursionError, not a ValueError."""

MAX_POLL_INTERVAL_MS = 600_000
"""A handler running longer than this gets its consumer evicted and its record handed to another."""


class Contention(Exception):
    """Optimistic concurrency lost too many times in a row; worth retrying later."""


TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    Contention,
    ConnectionFailure,
    AutoReconnect,
    NetworkTimeout,
    ServerSelectionTimeoutError,
    WTimeoutError,
    KafkaConnectionError,
    KafkaTimeoutError,
    RequestTimedOutError,
    NotLeaderForPartitionError,
    ConnectionError,
    TimeoutError,
)


class PermanentFailure(Exception):
    """A handler's verdict that this message can never succeed: dead-letter it now."""


class NotForThisConsumer(Exception):
    """A well-known event type that another service handles: acknowledge and move on."""


class UnsafeInput(Exception):
    """A message carrying MongoDB operators or dotted keys: never processed, always dead-lettered."""

    def __init__(self, path: str, validation: ValidationError | None = None) -> None:
        super().__init__(f"field name {path!r} looks like a MongoDB operator or dotted path")
        self.path = path
        self.validation = validation


def event_headers(event: Envelope[Any]) -> dict[str, str]:
    """The Kafka headers of a structured-mode CloudEvent, plus copies of its id and type for tools such as kcat."""
    return {
        HEADER_CONTENT_TYPE: CONTENT_TYPE,
        HEADER_EVENT_ID: str(event.id),
        HEADER_EVENT_TYPE: event.type,
        HEADER_CORRELATION_ID: str(event.correlation_id),
    }


async def publish_event(broker: KafkaBroker, topic: str, event: Envelope[Any], key: str | None = None) -> None:
    """Publish one envelope, keyed by its subject unless told otherwise, and wait for the broker's acknowledgement."""
    key_bytes = key.encode() if key is not None else event.key
    await broker.publish(event.to_bytes(), topic, key=key_bytes, headers=event_headers(event), correlation_id=str(event.correlation_id))


def kafka_producer(broker: KafkaBroker) -> AIOKafkaProducer:
    """The connected aiokafka producer under FastStream's, for records FastStream would give empty headers.

    FastStream adds a ``content-type`` header (empty for a null value) and a generated
    ``correlation_id`` to every record; a tombstone should carry neither.
    """
    try:
        producer = getattr(getattr(broker.config.producer, "_producer", None), "producer", None)
    except Exception:  # noqa: BLE001 - FastStream's own "not connected" error: a transient state, as ours says
        producer = None
    if not isinstance(producer, AIOKafkaProducer):
        raise KafkaConnectionError("the broker is not connected")
    return producer


async def send_tombstone(broker: KafkaBroker, topic: str, key: bytes, *, wait: bool = True) -> Awaitable[Any]:
    """Delete ``key`` from a compacted topic: a null value and no headers, through the same producer (so in order)."""
    future = await kafka_producer(broker).send(topic, value=None, key=key)
    if wait:
        await future
    return future


# ---------------------------------------------------------------- decoding


def handled_event_types(annotation: Any) -> set[str]:
    """The versioned type names an annotation (an event class or a union of them) accepts."""
    if isinstance(annotation, type) and issubclass(annotation, Envelope):
        return {annotation.EVENT_TYPE} if annotation.EVENT_TYPE else set()
    found: set[str] = set()
    for arg in get_args(annotation):
        found |= handled_event_types(arg)
    return found


def accepts_tombstones(annotation: Any) -> bool:
    return (
        annotation is None
        or type(None) in get_args(annotation)
        or any(accepts_tombstones(a) for a in get_args(annotation) if get_origin(a) is not None)
    )


def strict_json_decoder(event_type: Any, topic: str = "") -> Callable[[StreamMessage[Any]], Awaitable[Any]]:
    """Decode the raw bytes straight into ``event_type`` in pydantic's strict JSON mode.

    Validating the bytes (not a dict FastStream parsed first) keeps strict mode usable:
    JSON has no UUID or datetime type, and strict JSON validation accepts their ISO forms.
    An empty value is a tombstone, passed on as None when the handler accepts None.
    A valid event of a type declared in the contracts but not handled here is skipped:
    topics such as operator commands carry types for several services. An invalid one is
    skipped too when ``topic`` is declared to carry its type (shared/contracts/channels.py):
    the service that reads it there dead-letters it, once, with the reason that matters.
    """
    adapter: TypeAdapter[Any] = TypeAdapter(event_type)
    handled = handled_event_types(event_type)
    owned_elsewhere = _carried_by(topic) - handled
    tombstones_ok = accepts_tombstones(event_type)

    async def decode(message: StreamMessage[Any]) -> Any:
        body = message.body or b""
        if not body and tombstones_ok:
            return None
        try:
            return adapter.validate_json(body)
        except ValidationError as error:
            upcast = _legacy(body)
            if upcast is not None:
                with contextlib.suppress(ValidationError):
                    return adapter.validate_json(upcast)
            unsafe = _operator_key_in(body)
            if unsafe:
                raise UnsafeInput(unsafe, error) from error
            other = _declared_elsewhere(body, handled)
            if other is not None and other.EVENT_TYPE in owned_elsewhere:
                raise NotForThisConsumer(other.EVENT_TYPE) from None
            if other is not None:
                try:
                    other.model_validate_json(body)
                except ValidationError:
                    raise error from None
                raise NotForThisConsumer(other.EVENT_TYPE) from None
            raise

    return decode


def _legacy(body: bytes) -> bytes | None:
    """The same event in today's envelope, if ``body`` is one written before events were CloudEvents."""
    if len(body) > DLQ_MAX_BODY or b'"payload"' not in body:
        return None
    try:
        upcast = from_legacy(json.loads(body))
    except UNPARSABLE:
        return None
    return json.dumps(upcast).encode() if upcast is not None else None


def upcast_legacy(value: bytes) -> tuple[bytes, dict[str, str]] | None:
    """An outbox entry written before events were CloudEvents, as it must be published now: value and headers."""
    upcast = _legacy(value)
    if upcast is None:
        return None
    declared = EVENT_TYPES.get(json.loads(upcast)["type"])
    if declared is None:
        return None
    try:
        event = declared.model_validate_json(upcast)
    except ValidationError:
        return None
    return event.to_bytes(), event_headers(event)


def _carried_by(topic: str) -> set[str]:
    """The event types channels.py declares for ``topic`` (a full name, with its environment's prefix)."""
    for channel in CHANNELS:
        if topic.endswith(f".{channel.topic.value}"):
            return set(channel.event_types)
    return set()


def _declared_elsewhere(body: bytes, handled: set[str]) -> type[Envelope[Any]] | None:
    try:
        declared = json.loads(body).get("type")
    except UNPARSABLE:
        return None
    if isinstance(declared, str) and declared not in handled:
        return EVENT_TYPES.get(declared)
    return None


def _operator_key_in(body: bytes) -> str | None:
    """Only consulted once validation failed, so valid traffic pays nothing for it."""
    try:
        return find_mongo_operator(json.loads(body))
    except UNPARSABLE:
        return None


HandlerT = TypeVar("HandlerT", bound=Callable[..., Awaitable[Any]])


_SUBSCRIPTIONS: weakref.WeakKeyDictionary[KafkaBroker, list[Subscription]] = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class Subscription:
    topic: str
    event_type: Any
    """The handler's first parameter's annotation: an event class or a union of them."""


def subscriptions(broker: KafkaBroker) -> list[Subscription]:
    """What ``consumer`` subscribed on ``broker``: the truth the AsyncAPI document reads."""
    return list(_SUBSCRIPTIONS.get(broker, []))


def consumer(broker: KafkaBroker, topic: str, group_id: str, concurrency: int = 1, **options: Any) -> Callable[[HandlerT], HandlerT]:
    """Register ``handler`` as an at-least-once subscriber whose typed first argument is decoded strictly.

    ``concurrency`` > 1 runs that many consumers in the subscriber's group: partitions are
    divided among them, so messages with one key are still handled one at a time, in order.
    """
    if concurrency > 1:
        options["max_workers"] = concurrency

    def register(handler: HandlerT) -> HandlerT:
        first = next(iter(inspect.signature(handler).parameters))
        event_type = get_type_hints(handler, include_extras=True)[first]
        broker.subscriber(
            topic,
            # A group per subscribed topic: subscribers joining one shared group would
            # rebalance each other at every start, and a stuck one would stall the rest.
            group_id=f"{group_id}{GROUP_TOPIC_SEPARATOR}{topic}",
            auto_offset_reset="earliest",
            ack_policy=AckPolicy.NACK_ON_ERROR,
            decoder=strict_json_decoder(event_type, topic),
            max_poll_interval_ms=MAX_POLL_INTERVAL_MS,
            # An idle consumer's long poll: records still arrive at once (fetch_min_bytes=1),
            # but an idle service sends a tenth of the fetch requests of aiokafka's 500 ms.
            fetch_max_wait_ms=5_000,
            # Heartbeats every 5 s (aiokafka: 3 s); a dead consumer is still replaced after 15 s.
            heartbeat_interval_ms=5_000,
            session_timeout_ms=15_000,
            # How often aiokafka's fetch loop wakes with nothing to do (its default: 200 ms);
            # arriving records and assignment changes still wake it at once.
            consumer_timeout_ms=2_000,
            **options,
        )(handler)
        _SUBSCRIPTIONS.setdefault(broker, []).append(Subscription(topic, event_type))
        return handler

    return register


# ---------------------------------------------------------------- parsing


async def tolerant_parser(record: Any, original: Callable[[Any], Awaitable[StreamMessage[Any]]]) -> StreamMessage[Any]:
    """FastStream decodes every header value as UTF-8, before any middleware runs; a producer
    may send any bytes, or a null value. Such headers are kept, decoded with replacement
    characters, so the record reaches the dead-letter logic instead of failing forever."""
    try:
        return await original(record)
    except (UnicodeDecodeError, AttributeError):
        readable = [(key, (value or b"").decode("utf-8", "replace").encode()) for key, value in record.headers]
        copy = dataclasses.replace(record, headers=readable)
        # FastStream hangs the consumer that fetched the record on it, and commits through
        # it; without it the copy's commit went to no consumer and its offset stayed behind.
        if hasattr(record, "consumer"):
            copy.consumer = record.consumer
        return await original(copy)


# ---------------------------------------------------------------- middlewares


def _peek_ids(message: StreamMessage[Any]) -> dict[str, str]:
    """Ids for the log context, best effort: whatever the bytes, this never raises."""
    try:
        headers = message.headers or {}
        ids = {
            "event_id": headers.get(HEADER_EVENT_ID),
            "correlation_id": headers.get(HEADER_CORRELATION_ID),
            "event_type": headers.get(HEADER_EVENT_TYPE),
        }
        if ids["event_id"] is None and len(message.body or b"") <= DLQ_MAX_BODY:
            body = json.loads(message.body)
            if isinstance(body, dict):
                ids = {"event_id": body.get("id"), "correlation_id": body.get("correlationid"), "event_type": body.get("type")}
        return {k: v[:200] for k, v in ids.items() if isinstance(v, str)}
    except Exception:  # noqa: BLE001 - best effort: a log context must never fail the record
        return {}


class LogContextMiddleware(BaseMiddleware):
    """Bind the message's identity to every log line written while it is handled."""

    async def consume_scope(self, call_next: Callable[[Any], Awaitable[Any]], msg: StreamMessage[Any]) -> Any:
        record = msg.raw_message
        with structlog.contextvars.bound_contextvars(
            topic=getattr(record, "topic", None),
            partition=getattr(record, "partition", None),
            offset=getattr(record, "offset", None),
            **_peek_ids(msg),
        ):
            return await call_next(msg)


@dataclass(frozen=True)
class DeadLetterPolicy:
    """Where and when a service gives up on a message; one instance per service."""

    service: str
    dead_letter_topic: str
    group_id: str
    handler_attempts: int = 3
    transient_backoff: tuple[float, float] = (0.2, 10.0)
    transient_attempts_before_redelivery: int = 8
    parked: Any = None
    """shared.parking.ParkedRecords: consulted when ``redelivered`` says a record came back."""
    redelivered: Callable[[str, int, int], bool] | None = None

    def middleware(self) -> Callable[..., BaseMiddleware]:
        policy = self

        def build(msg: Any, /, *, context: Any) -> BaseMiddleware:
            return DeadLetterMiddleware(msg, context=context, policy=policy)

        return build


class DeadLetterMiddleware(BaseMiddleware):
    def __init__(self, msg: Any, /, *, context: Any, policy: DeadLetterPolicy) -> None:
        super().__init__(msg, context=context)
        self.policy = policy

    async def consume_scope(self, call_next: Callable[[Any], Awaitable[Any]], msg: StreamMessage[Any]) -> Any:
        policy = self.policy
        if await self._parked(msg):
            return None
        transient_failures = 0
        handler_failures = 0
        while True:
            try:
                return await call_next(msg)
            except ValidationError as error:
                await self._dead_letter(msg, "invalid", _validation_errors(error))
                return None
            except NotForThisConsumer as skipped:
                log.debug("skipped: handled by another service", event_type=str(skipped))
                return None
            except UnsafeInput as error:
                errors = [{"loc": error.path, "type": "mongo_operator", "msg": str(error)}]
                await self._dead_letter(msg, "unsafe-input", errors + (_validation_errors(error.validation) if error.validation else []))
                return None
            except (PermanentFailure, Refused) as error:
                await self._dead_letter(msg, "rejected", [{"msg": str(error)}])
                return None
            except TRANSIENT_ERRORS as error:
                transient_failures += 1
                low, high = policy.transient_backoff
                delay = min(high, low * 2 ** (transient_failures - 1))
                log.warning("transient failure, retrying", error=repr(error), attempt=transient_failures, delay_s=delay)
                if transient_failures >= policy.transient_attempts_before_redelivery:
                    raise  # NACK: the record is sought back and consumed again, never skipped
                await asyncio.sleep(delay)
            except Exception as error:  # a handler bug must not stall the partition forever
                handler_failures += 1
                log.exception("handler failed", error=repr(error), attempt=handler_failures)
                if handler_failures >= policy.handler_attempts:
                    await self._dead_letter(msg, "handler-error", [{"msg": repr(error)}])
                    return None
                await asyncio.sleep(policy.transient_backoff[0] * handler_failures)

    async def _parked(self, msg: StreamMessage[Any]) -> bool:
        """A redelivered record an operator parked: dead-letter it and let the group move on."""
        policy, record = self.policy, msg.raw_message
        if policy.parked is None or policy.redelivered is None:
            return False
        position = (getattr(record, "topic", None), getattr(record, "partition", None), getattr(record, "offset", None))
        if None in position or not policy.redelivered(*position):
            return False
        mark = await policy.parked.find(*position)
        if mark is None:
            return False
        await self._dead_letter(msg, "parked", [{"msg": f"parked by {mark.get('operator')}: {mark.get('reason', '')}"}])
        return True

    async def _dead_letter(self, msg: StreamMessage[Any], reason: str, errors: list[dict[str, Any]]) -> None:
        record = msg.raw_message
        body: bytes = msg.body or b""
        headers = {
            DLQ_REASON: reason,
            DLQ_ERRORS: json.dumps(errors, default=str)[:8000],
            DLQ_SOURCE_TOPIC: str(record.topic),
            DLQ_SOURCE_PARTITION: str(record.partition),
            DLQ_SOURCE_OFFSET: str(record.offset),
            DLQ_SERVICE: self.policy.service,
            DLQ_GROUP: self.policy.group_id,
            DLQ_TIME: datetime.now(UTC).isoformat(),
            HEADER_CONTENT_TYPE: DEAD_LETTER_CONTENT_TYPE,
        }
        correlation = (msg.headers or {}).get(HEADER_CORRELATION_ID)
        if isinstance(correlation, str) and correlation:
            headers[HEADER_CORRELATION_ID] = correlation[:200]
        broker: KafkaBroker = self.context.get("broker")
        if len(body) > DLQ_MAX_BODY:
            await self._dead_letter_reference(broker, body, record.key, headers)
        else:
            try:
                await broker.publish(body, self.policy.dead_letter_topic, key=record.key, headers=headers)
            except MessageSizeTooLargeError:
                await self._dead_letter_reference(broker, body, record.key, headers)
        log.warning("dead-lettered", reason=reason, errors=errors, size=len(body), dead_letter_topic=self.policy.dead_letter_topic)

    async def _dead_letter_reference(self, broker: KafkaBroker, body: bytes, key: bytes | None, headers: dict[str, str]) -> None:
        """Too large to copy whole: where it is, how big, why, and its beginning."""
        headers = {**headers, DLQ_TRUNCATED: "true", DLQ_ORIGINAL_SIZE: str(len(body))}
        await broker.publish(body[:DLQ_TRUNCATED_BODY], self.policy.dead_letter_topic, key=(key or b"")[:1024] or None, headers=headers)


def _validation_errors(error: ValidationError) -> list[dict[str, Any]]:
    """Pydantic's errors without the offending input, which may hold personal data."""
    return [
        {
            "loc": ".".join(str(p) for p in e["loc"])[:300],
            "type": e["type"],
            "msg": e["msg"][:300],
        }  # a message may quote the input (a union's tag)
        for e in error.errors(include_input=False, include_url=False)
    ]


# ---------------------------------------------------------------- broker


def create_broker(
    settings: Settings, service: str, dead_letters: DeadLetterPolicy | None = None, outermost: list[Any] | None = None
) -> KafkaBroker:
    middlewares: list[Any] = [*(outermost or []), LogContextMiddleware]
    if dead_letters is not None:
        middlewares.append(dead_letters.middleware())
    return KafkaBroker(
        settings.kafka_bootstrap,
        client_id=f"{settings.kafka_client_id}-{service}-{settings.instance_id}",
        security=broker_security(settings),  # SCRAM over TLS as the service's own principal, or PLAINTEXT
        enable_idempotence=True,
        acks="all",
        request_timeout_ms=30_000,
        graceful_timeout=settings.graceful_timeout_s,
        ack_policy=AckPolicy.NACK_ON_ERROR,
        allow_auto_create_topics=False,
        middlewares=middlewares,
        parser=tolerant_parser,
        logger=logging.getLogger(f"outgoing.{service}.broker"),
        log_level=logging.DEBUG,
    )


def group_id(settings: Settings, service: str) -> str:
    """Consumer groups are named after the environment and the service, never left anonymous."""
    return f"{settings.topic_prefix}.{service}"
