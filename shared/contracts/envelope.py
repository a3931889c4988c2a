"""The envelope every Outgoing event travels in: a CloudEvents 1.0 event, structured JSON mode.

Validation is strict and closed (extra fields are errors) so that a producer's mistake
surfaces at the consumer as a dead-lettered message with a reason, never as silently
dropped or coerced data. Envelopes are validated from JSON bytes, where strict mode still
accepts ISO-8601 strings for times and UUIDs.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Final, Generic, Literal, TypeVar
from uuid import NAMESPACE_URL, UUID, uuid4, uuid5

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    model_serializer,
    model_validator,
)

EVENT_TYPE_PATTERN = r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+\.v[1-9][0-9]*$"
_FORBIDDEN_KEY = re.compile(r"^\$|\.")


def _as_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


UtcDatetime = Annotated[AwareDatetime, AfterValidator(_as_utc)]
"""A timezone-aware instant, normalised to UTC: the only kind of time inside the system."""


def find_mongo_operator(value: Any, path: str = "") -> str | None:
    """Path of the first key that MongoDB would read as an operator or a nested path."""
    if isinstance(value, dict):
        for key, item in value.items():
            here = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and _FORBIDDEN_KEY.search(key):
                return here
            found = find_mongo_operator(item, here)
            if found:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = find_mongo_operator(item, f"{path}[{index}]")
            if found:
                return found
    return None


class Contract(BaseModel):
    """Base for every event model and payload: strict, closed, immutable."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, str_strip_whitespace=True)

    @model_validator(mode="after")
    def _reject_mongo_operators(self) -> Contract:
        """Free-form mappings must not smuggle operators into a query or update.

        An "after" validator, because a "before" one would turn strict JSON validation into
        strict Python validation, which rejects ISO strings for times and UUIDs.
        """
        for name, value in self.__dict__.items():
            if isinstance(value, dict | list):
                found = find_mongo_operator(value, name)
                if found:
                    raise ValueError(f"field name {found!r} looks like a MongoDB operator or dotted path")
        return self


PayloadT = TypeVar("PayloadT", bound=BaseModel)

SPEC_VERSION: Final = "1.0"
CONTENT_TYPE = "application/cloudevents+json; charset=UTF-8"
"""The Kafka ``content-type`` header of a structured-mode CloudEvent (Kafka protocol binding, 3.2)."""
DATA_CONTENT_TYPE: Final = "application/json"
SCHEMA_BASE = "https://schemas.outgoing.example/events/"
"""Where ``dataschema`` points: ``<SCHEMA_BASE><type>.json``, the file of that name in docs/schemas/."""

_EXTENSION_NAME = re.compile(r"[a-z0-9]{1,20}")
MAX_EXTENSIONS = 10
MAX_EXTENSION_LENGTH = 2000
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_URI_REFERENCE = re.compile(r"^[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+$")


def schema_uri(event_type: str) -> str:
    """The JSON Schema of one event type's ``data``; its ``$id`` in docs/schemas/."""
    return f"{SCHEMA_BASE}{event_type}.json"


def _uri_reference(value: str) -> str:
    if not _URI_REFERENCE.match(value):
        raise ValueError("must be a URI-reference (RFC 3986): no spaces, no characters outside the URI set")
    return value


def _extension_value(value: Any) -> bool:
    """What CloudEvents' type system allows an extension: String without control characters, Integer (32 bits), Boolean."""
    if isinstance(value, bool):
        return True
    if isinstance(value, int):
        return -(2**31) <= value < 2**31
    return isinstance(value, str) and len(value) <= MAX_EXTENSION_LENGTH and not _CONTROL.search(value)


UriReference = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_uri_reference)]

EVENT_TYPES: dict[str, type[Envelope[Any]]] = {}
"""Every event type declared in the contracts, by its versioned type name."""


class Envelope(Contract, Generic[PayloadT]):
    """A CloudEvents 1.0 event in structured JSON mode: the context attributes, then ``data``.

    ``correlationid`` and ``causationid`` are extension attributes, named as the spec wants
    (lowercase letters and digits); in Python they are ``correlation_id`` and ``causation_id``.
    ``subject`` is also the Kafka key, so all events about one subject stay in order.
    Concrete events narrow ``type`` to a Literal, which makes unions of them discriminated.
    """

    model_config = ConfigDict(validate_by_alias=True, validate_by_name=False, serialize_by_alias=True, extra="allow")
    """Extension attributes we do not know (``traceparent``, ``partitionkey``) are kept, as CloudEvents asks; ``data`` stays closed."""

    EVENT_TYPE: ClassVar[str] = ""

    specversion: Literal["1.0"]
    id: UUID
    source: UriReference
    type: Annotated[str, Field(pattern=EVENT_TYPE_PATTERN)]
    subject: Annotated[str, Field(min_length=1, max_length=200)]
    time: UtcDatetime
    datacontenttype: Literal["application/json"]
    dataschema: Annotated[str, Field(min_length=1, max_length=300)]
    correlation_id: UUID = Field(alias="correlationid")
    causation_id: UUID | None = Field(default=None, alias="causationid")
    data: PayloadT

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        """A concrete event declares ``type: Literal["x.y.v1"] = "x.y.v1"``; register it."""
        super().__pydantic_init_subclass__(**kwargs)
        declared = cls.model_fields["type"].default
        if isinstance(declared, str) and re.match(EVENT_TYPE_PATTERN, declared):
            cls.EVENT_TYPE = declared
            EVENT_TYPES[declared] = cls

    @model_validator(mode="after")
    def _extensions_as_cloudevents_names_them(self) -> Envelope[PayloadT]:
        extensions = self.__pydantic_extra__ or {}
        if len(extensions) > MAX_EXTENSIONS:
            raise ValueError(f"at most {MAX_EXTENSIONS} extension attributes")
        for name, value in extensions.items():
            if not _EXTENSION_NAME.fullmatch(name):
                raise ValueError(f"{name[:40]!r} is not a CloudEvents attribute name: lowercase letters and digits, at most 20")
            if not _extension_value(value):
                raise ValueError(
                    f"extension attribute {name!r} must be a string (printable, at most {MAX_EXTENSION_LENGTH}), "
                    "a 32-bit integer or a boolean"
                )
        return self

    @model_validator(mode="after")
    def _schema_of_its_type(self) -> Envelope[PayloadT]:
        if self.dataschema != schema_uri(self.type):
            raise ValueError(f"dataschema must be {schema_uri(self.type)!r} for an event of type {self.type!r}")
        return self

    @model_serializer(mode="wrap")
    def _absent_when_none(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """An extension attribute without a value is left out, as CloudEvents wants, not sent as null."""
        dumped: dict[str, Any] = handler(self)
        if dumped.get("causationid", ...) is None:
            del dumped["causationid"]
        return dumped

    @classmethod
    def _build(
        cls,
        *,
        event_id: UUID,
        event_type: str,
        source: str,
        subject: str,
        time: datetime,
        correlation_id: UUID,
        causation_id: UUID | None,
        data: Any,
    ) -> Any:
        return cls(
            specversion=SPEC_VERSION,
            id=event_id,
            source=source,
            type=event_type,
            subject=subject,
            time=time,
            datacontenttype=DATA_CONTENT_TYPE,
            dataschema=schema_uri(event_type),
            correlationid=correlation_id,
            causationid=causation_id,
            data=data,
        )

    @classmethod
    def new(
        cls,
        *,
        source: str,
        subject: str,
        data: PayloadT,
        caused_by: Envelope[Any] | None = None,
        event_id: UUID | None = None,
        time: datetime | None = None,
        type: str | None = None,
    ) -> Any:
        """A fresh event; correlation flows from the causing event, causation points at it."""
        event_id = event_id or uuid4()
        return cls._build(
            event_id=event_id,
            event_type=type or cls.EVENT_TYPE,
            source=source,
            subject=subject,
            time=time or datetime.now(UTC),
            correlation_id=caused_by.correlation_id if caused_by else event_id,
            causation_id=caused_by.id if caused_by else None,
            data=data,
        )

    @classmethod
    def caused_by(cls, cause: Envelope[Any], *, source: str, subject: str, data: PayloadT, discriminator: str = "") -> Any:
        """A consequence of ``cause`` whose id is derived from it, so re-deriving it yields the same event id."""
        event_id = uuid5(cause.id, f"{cls.EVENT_TYPE}|{subject}|{discriminator}")
        return cls.new(source=source, subject=subject, data=data, caused_by=cause, event_id=event_id)

    @classmethod
    def derived(
        cls, name: str, *, source: str, subject: str, data: PayloadT, correlation_id: UUID, causation_id: UUID | None, time: datetime
    ) -> Any:
        """An event whose id derives from ``name``, what it is the outcome of (a notification,
        an attempt): recomputed after a crash, it is the same event."""
        return cls._build(
            event_id=uuid5(NAMESPACE_URL, f"{cls.EVENT_TYPE}|{name}"),
            event_type=cls.EVENT_TYPE,
            source=source,
            subject=subject,
            time=time,
            correlation_id=correlation_id,
            causation_id=causation_id,
            data=data,
        )

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()

    @property
    def key(self) -> bytes:
        return self.subject.encode()


LEGACY_UNTIL = datetime(2027, 1, 1, tzinfo=UTC)
"""Events of the old shape are read only if they say they happened before this: a producer
still writing it after the upgrade gets a dead letter, not silent acceptance."""


def from_legacy(raw: Any) -> dict[str, Any] | None:
    """A record written before events were CloudEvents (``payload``, ``correlation_id``) in today's shape; None for anything else.

    Compacted topics keep such records for good, and outboxes may still hold some: readers
    upcast them instead of dead-lettering a mission's definition or a contact.
    """
    if not isinstance(raw, dict) or "specversion" in raw or "payload" not in raw or not isinstance(raw.get("type"), str):
        return None
    try:
        written = datetime.fromisoformat(str(raw.get("time")))
    except ValueError:
        return None
    if written.tzinfo is None or written >= LEGACY_UNTIL:
        return None
    event: dict[str, Any] = {
        "specversion": SPEC_VERSION,
        "id": raw.get("id"),
        "source": raw.get("source"),
        "type": raw["type"],
        "subject": raw.get("subject"),
        "time": raw.get("time"),
        "datacontenttype": DATA_CONTENT_TYPE,
        "dataschema": schema_uri(raw["type"]),
        "correlationid": raw.get("correlation_id"),
        "data": raw.get("payload"),
    }
    if raw.get("causation_id") is not None:
        event["causationid"] = raw["causation_id"]
    return event
