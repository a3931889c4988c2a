"""Registration against the real Kafka broker and MongoDB-wire server."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import pytest

from services.registration.app import create_app
from services.registration.domain.companies import company_id_for
from services.registration.store import COMPANIES, ENROLLMENTS, SIGNUPS
from shared.contracts.edition_2020 import MISSIONS_2020
from shared.contracts.envelope import Envelope
from shared.contracts.registration import (
    CompanyRef,
    ErasureRequest,
    ErasureRequested,
    OperatorApproval,
    OperatorRejection,
    Signup,
    SignupApprovedByOperator,
    SignupRejectedByOperator,
    SignupUpdated,
    SignupWithdrawn,
    Withdrawal,
)
from shared.contracts.topics import Topic, TopicNames
from shared.messaging import DLQ_ERRORS, DLQ_REASON, DLQ_SOURCE_OFFSET, DLQ_SOURCE_PARTITION, DLQ_SOURCE_TOPIC, publish_event
from shared.mongo import create_client
from shared.outbox import Outbox
from shared.service import Runtime
from shared.settings import Settings
from tests.factories import foreign, lombard, mission_planned, signup, valid_partita_iva
from tests.support import decoded, eventually, running, topic_records

pytestmark = pytest.mark.integration


class Harness:
    """A running registration service plus ways to feed it and look at what it did."""

    def __init__(self, settings: Settings, runtime: Runtime) -> None:
        self.settings = settings
        self.runtime = runtime
        self.topics = TopicNames(settings.topic_prefix)
        self.db = runtime.db

    async def send(self, topic: Topic, event: Envelope[Any]) -> None:
        await publish_event(self.runtime.broker, self.topics(topic), event)

    async def send_raw(self, topic: Topic, value: bytes, key: bytes = b"raw") -> None:
        await self.runtime.broker.publish(value, self.topics(topic), key=key)

    async def events(self, topic: Topic = Topic.REGISTRATION_EVENTS) -> list[dict[str, Any]]:
        return decoded(await topic_records(self.settings, self.topics(topic)))

    async def wait_for(
        self, count: int, event_type: str, topic: Topic = Topic.REGISTRATION_EVENTS, timeout: float = 30
    ) -> list[dict[str, Any]]:
        async def enough() -> list[dict[str, Any]] | None:
            found = [e for e in await self.events(topic) if e["type"] == event_type]
            return found if len(found) >= count else None

        return await eventually(enough, timeout)

    async def plan_missions(self) -> None:
        for m in MISSIONS_2020:
            await self.send(Topic.MISSIONS, mission_planned(m))
        await eventually(lambda: self._count("missions", len(MISSIONS_2020)))

    async def _count(self, collection: str, n: int, query: dict[str, Any] | None = None) -> bool:
        return await self.db[collection].count_documents(query or {}) >= n

    async def settle(self) -> None:
        """Wait until a sentinel signup sent now has been fully handled: everything before it was too."""
        sentinel = signup(lombard(company_name="Sentinella S.p.A.", partita_iva=valid_partita_iva(str(uuid4().int)[:10])))
        await self.send(Topic.SIGNUP_FORMS, sentinel)
        await eventually(lambda: self._enrolled_and_published(sentinel.id))

    async def _enrolled_and_published(self, signup_id: Any) -> bool:
        events = await self.events()
        return any(e["type"] == "enrollment.confirmed.v1" and e.get("causationid") == str(signup_id) for e in events)


@pytest.fixture
async def service(settings: Settings):
    app, runtime = create_app(settings, configure_logs=False)
    async with running(app):
        harness = Harness(settings, runtime)
        await harness.plan_missions()
        yield harness


def of_type(events: list[dict[str, Any]], event_type: str) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] == event_type]


# ---------------------------------------------------------------- happy paths


async def test_lombard_company_is_registered_and_enrolled(service: Harness) -> None:
    event = signup(lombard(missions=["india-2020", "uk-2020"]))
    await service.send(Topic.SIGNUP_FORMS, event)
    enrolled = await service.wait_for(2, "enrollment.confirmed.v1")
    [registered] = await service.wait_for(1, "company.registered.v1")

    company_id = registered["data"]["company_id"]
    assert registered["subject"] == company_id and registered.get("causationid") == str(event.id)
    assert registered["data"]["province"] == "BG" and registered["data"]["sectors"] == ["meccanica_metallurgia"]
    assert sorted((e["subject"], e["data"]["company_id"]) for e in enrolled) == [("india-2020", company_id), ("uk-2020", company_id)]
    assert await service.db[COMPANIES].count_documents({}) == 1
    assert await service.db[ENROLLMENTS].count_documents({"company_id": company_id, "status": "confirmed"}) == 2

    raw = b"".join(r.value for r in await topic_records(service.settings, service.topics(Topic.REGISTRATION_EVENTS)))
    assert b"mario.rossi@rossi.example" not in raw and b"Mario Rossi" not in raw, "personal data leaked into public events"
    [contact] = await service.wait_for(1, "contact.recorded.v1", Topic.CONTACTS)
    assert contact["subject"] == company_id and contact["data"]["contact"]["email"] == "mario.rossi@rossi.example"


async def test_foreign_partner_is_registered_and_enrolled(service: Harness) -> None:
    await service.send(Topic.SIGNUP_FORMS, signup(foreign()))
    [registered] = await service.wait_for(1, "company.registered.v1")
    [enrolled] = await service.wait_for(1, "enrollment.confirmed.v1")
    assert registered["data"]["role"] == "foreign" and registered["data"]["timezone"] == "Asia/Kolkata"
    assert registered["data"]["preferred_language"] == "en"
    assert enrolled["data"]["role"] == "foreign" and enrolled["subject"] == "india-2020"


# ---------------------------------------------------------------- eligibility


async def test_each_rule_rejects_with_its_reason_code(service: Harness) -> None:
    after_deadline = datetime(2020, 10, 10, tzinfo=UTC)
    cases = {
        "site.not_in_lombardy": signup(lombard(sede_legale={"city": "Torino", "province": "TO"})),
        "site.missing": signup(lombard(sede_legale=None)),
        "partita_iva.malformed": signup(lombard(partita_iva="123")),
        "partita_iva.check_digit": signup(lombard(partita_iva="01234567890")),
        "sector.unknown": signup(lombard(sector="aerospazio")),
        "sector.not_accepted": signup(lombard(sector="sistema_moda")),
        "mission.unknown": signup(lombard(missions=["mars-2020"])),
        "mission.closed": signup(lombard(), time=after_deadline),
        "consent.missing": signup(lombard(privacy_consent=False)),
        "country.mismatch": signup(foreign(country="GB", timezone="Europe/London")),
    }
    for event in cases.values():
        await service.send(Topic.SIGNUP_FORMS, event)
    rejections = await service.wait_for(len(cases), "signup.rejected.v1")
    by_signup = {r["data"]["signup_id"]: r["data"] for r in rejections}
    for code, event in cases.items():
        payload = by_signup[str(event.id)]
        assert [v["code"] for v in payload["violations"]] == [code]
        assert all(v["message_it"] and v["message_en"] for v in payload["violations"])
    decided = await service.db[SIGNUPS].find({"outcome": {"$in": ["rejected", "partial"]}}).to_list()
    assert len(decided) == len(cases)
    no_consent = await service.db[SIGNUPS].find_one({"_id": str(cases["consent.missing"].id)})
    assert no_consent["applicant"] is None, "without consent nothing personal may be kept"


async def test_signup_again_updates_the_existing_company(service: Harness) -> None:
    await service.send(Topic.SIGNUP_FORMS, signup(lombard()))
    await service.wait_for(1, "company.registered.v1")
    again = signup(lombard(offer="Now also robotic cells", partita_iva="IT " + valid_partita_iva()))
    await service.send(Topic.SIGNUP_FORMS, again)
    [updated] = await service.wait_for(1, "company.updated.v1")
    assert updated["data"]["changed_fields"] == ["offer"]
    assert await service.db[COMPANIES].count_documents({}) == 1
    company = await service.db[COMPANIES].find_one({})
    assert company["profile"]["offer"] == "Now also robotic cells" and company["version"] == 2
    await service.settle()
    assert len(of_type(await service.events(), "enrollment.confirmed.v1")) == 2  # the sentinel's and the first signup's


async def test_signup_updated_event_changes_the_record(service: Harness) -> None:
    await service.send(Topic.SIGNUP_FORMS, signup(foreign()))
    await service.wait_for(1, "company.registered.v1")
    update = SignupUpdated.new(source="forms", subject="x", data=Signup(applicant=foreign(city="Pune")))
    await service.send(Topic.SIGNUP_FORMS, update)
    [updated] = await service.wait_for(1, "company.updated.v1")
    assert updated["data"]["changed_fields"] == ["city"]


# ---------------------------------------------------------------- idempotency


async def test_replaying_the_same_event_changes_and_emits_nothing(service: Harness) -> None:
    event = signup(lombard())
    await service.send(Topic.SIGNUP_FORMS, event)
    await service.wait_for(1, "enrollment.confirmed.v1")
    before = await service.db[COMPANIES].find_one({})
    for _ in range(3):
        await service.send(Topic.SIGNUP_FORMS, event)
    await service.settle()
    after = await service.db[COMPANIES].find_one({"_id": before["_id"]})
    assert after["version"] == before["version"] and after["profile"] == before["profile"]
    counts = Counter(e["type"] for e in await service.events() if e.get("causationid") == str(event.id))
    assert counts == {"company.registered.v1": 1, "enrollment.confirmed.v1": 1}


async def test_concurrent_duplicates_in_two_consumer_instances_make_one_company(settings: Settings) -> None:
    first_app, first = create_app(settings.model_copy(update={"instance_id": "a"}), configure_logs=False)
    second_app, _ = create_app(settings.model_copy(update={"instance_id": "b"}), configure_logs=False)
    async with running(first_app), running(second_app):
        harness = Harness(settings, first)
        await harness.plan_missions()
        duplicates = [signup(lombard(offer=f"variant {i}")) for i in range(6)]
        for index, event in enumerate(duplicates):
            await first.broker.publish(event.to_bytes(), harness.topics(Topic.SIGNUP_FORMS), key=event.key, partition=index % 2)
        await eventually(lambda: harness._count(SIGNUPS, 6))
        await harness.settle()
        deciders = {d["instance"] for d in await _handled_by(harness) if d["company"] == company_id_for(f"it:{valid_partita_iva()}")}
        assert len(deciders) == 1, "one company's signups are all decided by its single writer"
        assert await harness.db[COMPANIES].count_documents({"natural_key": f"it:{valid_partita_iva()}"}) == 1
        assert await harness.db[ENROLLMENTS].count_documents({"mission_id": "india-2020"}) == 2  # the company and the sentinel
        events = await harness.events()
        assert len([e for e in of_type(events, "company.registered.v1") if e["data"]["company_name"].startswith("Rossi")]) == 1
        assert len(of_type(events, "enrollment.confirmed.v1")) == 2


async def _handled_by(harness: Harness) -> list[dict[str, Any]]:
    return [{"instance": d["decided_by"], "company": d["company_id"]} for d in await harness.db[SIGNUPS].find({}).to_list()]


# ---------------------------------------------------------------- bad input


async def test_poison_messages_reach_the_dead_letter_topic_with_their_reason(service: Harness) -> None:
    good = signup(lombard()).model_dump(mode="json")
    with_operator = json.loads(json.dumps(good))
    with_operator["data"]["applicant"]["partita_iva"] = {"$gt": ""}
    dotted = json.loads(json.dumps(good))
    dotted["data"]["applicant"]["contact"]["a.b"] = "x"
    where = json.loads(json.dumps(good))
    where["$where"] = "sleep(1000)"
    bad_schema = json.loads(json.dumps(good))
    bad_schema["data"]["applicant"]["contact"]["email"] = "not-an-address"
    poison = [
        b"\xff\xfe not json",
        json.dumps(bad_schema).encode(),
        json.dumps(with_operator).encode(),
        json.dumps(dotted).encode(),
        json.dumps(where).encode(),
    ]
    for value in poison:
        await service.send_raw(Topic.SIGNUP_FORMS, value)
    await service.settle()
    dead = await topic_records(service.settings, service.topics(Topic.REGISTRATION_DLQ))
    assert [r.value for r in dead] == poison
    headers = [{k: v.decode() for k, v in r.headers} for r in dead]
    assert [h[DLQ_REASON] for h in headers] == ["invalid", "invalid", "unsafe-input", "unsafe-input", "unsafe-input"]
    assert all(h[DLQ_SOURCE_TOPIC] == service.topics(Topic.SIGNUP_FORMS) for h in headers)
    assert all(h[DLQ_SOURCE_PARTITION].isdigit() and h[DLQ_SOURCE_OFFSET].isdigit() for h in headers)
    assert "json_invalid" in headers[0][DLQ_ERRORS]
    assert "data.applicant.lombard.contact.email" in headers[1][DLQ_ERRORS]
    assert "$gt" in headers[2][DLQ_ERRORS] and "a.b" in headers[3][DLQ_ERRORS] and "$where" in headers[4][DLQ_ERRORS]
    assert "not-an-address" not in headers[1][DLQ_ERRORS], "the offending input must not be copied into headers"
    assert await service.db[COMPANIES].count_documents({}) == 1  # only the sentinel


# ---------------------------------------------------------------- outbox


async def test_outbox_survives_a_crash_between_write_and_publish(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    async def die_before_publishing(self: Outbox, refs: Any) -> int:
        return 0

    event = signup(lombard())
    with monkeypatch.context() as crash:
        crash.setattr(Outbox, "flush", die_before_publishing)
        crashed_app, crashed = create_app(settings, configure_logs=False)
        async with running(crashed_app):
            harness = Harness(settings, crashed)
            await harness.send(Topic.MISSIONS, mission_planned(MISSIONS_2020[0]))
            await eventually(lambda: harness._count("missions", 1))
            await harness.send(Topic.SIGNUP_FORMS, event)
            await eventually(lambda: harness._count(ENROLLMENTS, 1))
    client = create_client(settings)
    pending = [o for doc in await all_documents(client[settings.database_for("registration")]) for o in doc.get("outbox", [])]
    await client.close()
    assert len(pending) == 3  # contact, company registered, enrollment confirmed
    assert await harness.events() == []

    recovering = settings.model_copy(update={"outbox_grace_s": 0.5, "outbox_scan_interval_s": 0.5})
    restarted_app, restarted = create_app(recovering, configure_logs=False)
    async with running(restarted_app):
        await Harness(settings, restarted).wait_for(1, "enrollment.confirmed.v1")
        await eventually(lambda: _outboxes_empty(restarted.db))
    events = await harness.events()
    assert Counter(e["type"] for e in events) == {"company.registered.v1": 1, "enrollment.confirmed.v1": 1}
    assert {e["id"] for e in events} == {json.loads(o["value"])["id"] for o in pending if o["topic"] == Topic.REGISTRATION_EVENTS.value}


async def all_documents(db: Any) -> list[dict[str, Any]]:
    return [doc for collection in (COMPANIES, ENROLLMENTS, SIGNUPS) for doc in await db[collection].find({}).to_list()]


async def _outboxes_empty(db: Any) -> bool:
    for collection in (COMPANIES, ENROLLMENTS, SIGNUPS):
        if await db[collection].count_documents({"outbox.0": {"$exists": True}}):
            return False
    return True


# ---------------------------------------------------------------- withdrawals, overrides, erasure


async def test_withdrawal_cancels_the_enrollment(service: Harness) -> None:
    await service.send(Topic.SIGNUP_FORMS, signup(lombard(missions=["india-2020", "uk-2020"])))
    await service.wait_for(2, "enrollment.confirmed.v1")
    withdrawal = SignupWithdrawn.new(
        source="forms", subject="w", data=Withdrawal(company=CompanyRef(partita_iva=valid_partita_iva()), mission_id="uk-2020")
    )
    await service.send(Topic.SIGNUP_FORMS, withdrawal)
    [cancelled] = await service.wait_for(1, "enrollment.cancelled.v1")
    assert cancelled["subject"] == "uk-2020" and cancelled["data"]["reason"] == "withdrawn"
    assert await service.db[ENROLLMENTS].count_documents({"status": "confirmed"}) == 1


async def test_operator_approval_enrolls_a_rejected_signup_and_records_who_and_why(service: Harness) -> None:
    late = signup(lombard(), time=datetime(2020, 10, 10, tzinfo=UTC))
    await service.send(Topic.SIGNUP_FORMS, late)
    await service.wait_for(1, "signup.rejected.v1")
    approval = SignupApprovedByOperator.new(
        source="operators",
        subject="op",
        data=OperatorApproval(signup_id=late.id, operator="Giulia Bianchi", reason="late paperwork, agreed by phone"),
    )
    await service.send(Topic.OPERATOR_COMMANDS, approval)
    [enrolled] = await service.wait_for(1, "enrollment.confirmed.v1")
    assert enrolled["data"]["override"] is True
    enrollment = await service.db[ENROLLMENTS].find_one({"_id": enrolled["data"]["enrollment_id"]})
    assert enrollment["override"]["operator"] == "Giulia Bianchi" and enrollment["override"]["reason"] == "late paperwork, agreed by phone"
    decision = await service.db[SIGNUPS].find_one({"_id": str(late.id)})
    assert [o["operator"] for o in decision["overrides"]] == ["Giulia Bianchi"]


async def test_operator_rejection_cancels_and_records_who_and_why(service: Harness) -> None:
    await service.send(Topic.SIGNUP_FORMS, signup(foreign()))
    [enrolled] = await service.wait_for(1, "enrollment.confirmed.v1")
    company_id = enrolled["data"]["company_id"]
    order = SignupRejectedByOperator.new(
        source="operators",
        subject=company_id,
        data=OperatorRejection(company_id=company_id, operator="Luca Verdi", reason="scouting check failed"),
    )
    await service.send(Topic.OPERATOR_COMMANDS, order)
    [cancelled] = await service.wait_for(1, "enrollment.cancelled.v1")
    assert cancelled["data"]["reason"] == "operator" and cancelled["data"]["note"] == "scouting check failed"
    enrollment = await service.db[ENROLLMENTS].find_one({"company_id": company_id})
    assert enrollment["status"] == "cancelled" and enrollment["override"]["operator"] == "Luca Verdi"


async def test_erasure_keeps_statistics_and_tells_everyone(service: Harness) -> None:
    await service.send(Topic.SIGNUP_FORMS, signup(lombard()))
    [registered] = await service.wait_for(1, "company.registered.v1")
    company_id = registered["data"]["company_id"]
    erasure = ErasureRequested.new(
        source="dpo", subject=company_id, data=ErasureRequest(company=CompanyRef(company_id=company_id), requested_by="DPO")
    )
    await service.send(Topic.SIGNUP_FORMS, erasure)
    await service.send(Topic.SIGNUP_FORMS, erasure)  # replay
    [erased] = await service.wait_for(1, "company.erased.v1")
    assert erased["subject"] == company_id
    [cancelled] = await service.wait_for(1, "enrollment.cancelled.v1")
    assert cancelled["data"]["reason"] == "erased"

    company = await service.db[COMPANIES].find_one({"_id": company_id})
    assert company["status"] == "erased" and "contact" not in company
    assert set(company["profile"]) <= {"company_id", "role", "country", "province", "sectors", "size", "ateco_code", "timezone"}
    assert company["profile"]["province"] == "BG" and company["profile"]["sectors"] == ["meccanica_metallurgia"]
    stored = json.dumps(await all_documents(service.db), default=str)
    for personal in ("Mario Rossi", "mario.rossi@rossi.example", "035 123456", "Via Roma"):
        assert personal not in stored

    contacts = await topic_records(service.settings, service.topics(Topic.CONTACTS))
    assert [r.value is None for r in contacts if r.key == company_id.encode()] == [False, True], "contact then tombstone"
    await service.settle()
    assert len(of_type(await service.events(), "company.erased.v1")) == 1


# ---------------------------------------------------------------- transient failures


async def test_database_outage_is_retried_and_the_signup_is_not_lost(settings: Settings) -> None:
    from urllib.parse import urlsplit

    from tests.tcp_proxy import CuttableProxy

    target = urlsplit(settings.mongo_url)
    proxy = CuttableProxy(target.hostname or "127.0.0.1", target.port or 27017)
    await proxy.start()
    through_proxy = settings.model_copy(
        update={"mongo_url": f"mongodb://127.0.0.1:{proxy.port}/?directConnection=true", "mongo_timeout_ms": 500}
    )
    app, runtime = create_app(through_proxy, configure_logs=False)
    async with running(app):
        harness = Harness(settings, runtime)
        await harness.send(Topic.MISSIONS, mission_planned(MISSIONS_2020[0]))
        await eventually(lambda: harness._count("missions", 1))
        await proxy.cut()
        await harness.send(Topic.SIGNUP_FORMS, signup(lombard()))
        await asyncio.sleep(8)  # outlasts the three attempts a non-transient error would get
        await proxy.restore()
        [enrolled] = await harness.wait_for(1, "enrollment.confirmed.v1", timeout=60)
    assert enrolled["subject"] == "india-2020"
    assert await topic_records(settings, harness.topics(Topic.REGISTRATION_DLQ)) == []
    await proxy.cut()


async def test_a_signup_replayed_after_its_mission_was_planned_keeps_its_first_decision(settings: Settings) -> None:
    """Handled before the catalogue knew the mission: refused for it. A redelivery once the
    mission is planned must not enroll the company behind the decision on record."""
    app, runtime = create_app(settings, configure_logs=False)
    async with running(app):
        harness = Harness(settings, runtime)
        early = signup(lombard(company_name="Troppo Presto S.r.l.", partita_iva=valid_partita_iva("0777777777")))
        await harness.send(Topic.SIGNUP_FORMS, early)
        [rejected] = await harness.wait_for(1, "signup.rejected.v1")
        assert [v["code"] for v in rejected["data"]["violations"]] == ["mission.unknown"]

        await harness.plan_missions()
        await harness.send(Topic.SIGNUP_FORMS, early)  # the same event again, as after a crash
        # A new signup of the same company follows it through the same partitions: once it
        # is handled (and, the mission now known, confirmed), so was the replay.
        again = signup(early.data.applicant)
        await harness.send(Topic.SIGNUP_FORMS, again)
        await eventually(lambda: harness._enrolled_and_published(again.id))
        decision = await harness.db[SIGNUPS].find_one({"_id": str(early.id)})
        assert decision["outcome"] == "partial" and decision["eligible_missions"] == []
        confirmed = [e for e in await harness.events() if e["type"] == "enrollment.confirmed.v1" and e.get("causationid") == str(early.id)]
        assert confirmed == [], "the replay enrolled the company against its stored decision"
