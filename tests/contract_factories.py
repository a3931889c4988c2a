"""One valid, random instance of every event type, from the pydantic models themselves (polyfactory).

Random within each field's declared constraints; the few rules that span fields (a span
ends after it starts, a zone exists, a company is named one way) get factories of their own.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import available_timezones

from polyfactory import Use
from polyfactory.factories.pydantic_factory import ModelFactory
from pydantic import ValidationError

from shared.contracts import matching, missions, registration
from shared.contracts.catalog import EVENT_TYPES
from shared.contracts.envelope import Envelope

ZONES = sorted(available_timezones() - {"Factory", "localtime"})
_rng = random.Random(20201019)


def _instant() -> datetime:
    return datetime(2020, 1, 1, tzinfo=UTC) + timedelta(minutes=_rng.randrange(0, 2_000_000))


class _Span:
    start = Use(lambda: datetime(2020, 10, 19, 8, tzinfo=UTC))
    end = Use(lambda: datetime(2020, 10, 19, 8, tzinfo=UTC) + timedelta(minutes=_rng.randrange(5, 600)))


class AvailabilityFactory(_Span, ModelFactory[registration.Availability]):
    __set_as_default_factory_for_type__ = True


class TimeSpanFactory(_Span, ModelFactory[matching.TimeSpan]):
    __set_as_default_factory_for_type__ = True


class BusinessHoursFactory(ModelFactory[missions.BusinessHours]):
    __set_as_default_factory_for_type__ = True
    start = Use(lambda: time(8, 0))
    end = Use(lambda: time(17, 30))


class MissionFactory(ModelFactory[missions.Mission]):
    __set_as_default_factory_for_type__ = True
    lombard_timezone = Use(lambda: _rng.choice(ZONES))
    market_timezone = Use(lambda: _rng.choice(ZONES))
    window_start = Use(lambda: date(2020, 10, 19))
    window_end = Use(lambda: date(2020, 10, 30))


class CompanyProfileFactory(ModelFactory[registration.CompanyProfile]):
    __set_as_default_factory_for_type__ = True
    timezone = Use(lambda: _rng.choice(ZONES))


class ForeignApplicantFactory(ModelFactory[registration.ForeignApplicant]):
    __set_as_default_factory_for_type__ = True
    timezone = Use(lambda: _rng.choice(ZONES))


class LocalTimeFactory(ModelFactory[matching.LocalTime]):
    __set_as_default_factory_for_type__ = True
    timezone = Use(lambda: _rng.choice(ZONES))


class CompanyRefFactory(ModelFactory[registration.CompanyRef]):
    __set_as_default_factory_for_type__ = True
    company_id = Use(lambda: f"company-{_rng.randrange(10**8):08d}")
    partita_iva = None
    company_name = None
    country = None


class ContactFactory(ModelFactory[registration.Contact]):
    """Whitespace is stripped before the pattern is checked: a random phone ending in a space can fall short."""

    __set_as_default_factory_for_type__ = True
    phone = Use(lambda: f"+39 02 {_rng.randrange(10**6, 10**7)}")


_OWN_FACTORIES: dict[type[Any], type[ModelFactory[Any]]] = {
    registration.CompanyProfile: CompanyProfileFactory,
    missions.Mission: MissionFactory,
    registration.Contact: ContactFactory,
}


def sample_event(event_type: str, seed: int = 0) -> Envelope[Any]:
    """A valid event of ``event_type`` with random data, as a service would build it."""
    event_class = EVENT_TYPES[event_type]
    payload_type = event_class.model_fields["data"].annotation
    factory = _OWN_FACTORIES.get(payload_type) or ModelFactory.create_factory(payload_type)
    for attempt in range(50):
        factory.seed_random(seed * 100 + attempt)
        _rng.seed(seed * 100 + attempt)
        try:
            data = factory.build()
            break
        except ValidationError:
            continue  # random text that stripping of whitespace shortens below a minimum: the next draw
    else:
        raise AssertionError(f"no valid {event_type} in 50 draws: give its payload a factory here")
    return event_class.new(source="/tests/contracts", subject=f"subject-{seed}", data=data, time=_instant())
