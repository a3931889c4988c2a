"""Signups per second through the whole registration service, against the real servers.

Starts `python -m services.registration` as its own process on a private topic prefix
and database, publishes N distinct valid signups to the forms topic, and measures the
time until N EnrollmentConfirmed events are on registration's public topic: intake,
re-keying, eligibility, MongoDB writes and the outbox publish are all inside the figure.

    .venv/bin/python bench/registration_throughput.py --signups 2000

Needs the local servers (`make up`); cleans up its topics and database afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from services.registration.domain.partita_iva import check_digit  # noqa: E402
from shared.contracts.edition_2020 import MISSIONS_2020  # noqa: E402
from shared.contracts.missions import MissionPlanned  # noqa: E402
from shared.contracts.registration import CompanySignupSubmitted, LombardApplicant, Signup  # noqa: E402
from shared.contracts.topics import Topic, TopicNames  # noqa: E402
from shared.kafka import delete_topics, ensure_topics  # noqa: E402
from shared.mongo import create_client  # noqa: E402
from shared.settings import Settings  # noqa: E402


SIGNUP_TIME = datetime(2020, 9, 15, 9, 0, tzinfo=UTC)


def signup_bytes(index: int) -> bytes:
    first_ten = f"{index + 1:010d}"
    applicant = LombardApplicant(
        company_name=f"Bench Company {index}",
        partita_iva=first_ten + str(check_digit(first_ten)),
        sede_legale={"city": "Milano", "province": "MI"},
        sector="meccanica_metallurgia",
        products=[{"name": "valves", "hs_code": "848180"}],
        offer="Industrial valves",
        seeking="Distributors",
        languages=["it", "en"],
        contact={"name": "Bench Person", "email": f"bench{index}@example.com"},
        privacy_consent=True,
        missions=["india-2020"],
    )
    # Signed up in September 2020, before the reference missions' enrollment deadlines.
    event = CompanySignupSubmitted.new(source="bench", subject=f"form-{index}", payload=Signup(applicant=applicant), time=SIGNUP_TIME)
    return event.to_bytes()


async def run(count: int) -> dict[str, float]:
    prefix = f"bench{uuid.uuid4().hex[:8]}"
    base = Settings()
    settings = base.model_copy(update={"topic_prefix": prefix, "mongo_db": prefix})
    topics = TopicNames(prefix)
    created = await ensure_topics(settings)
    env = {**os.environ, "OUTGOING_TOPIC_PREFIX": prefix, "OUTGOING_MONGO_DB": prefix, "OUTGOING_INSTANCE_ID": prefix}
    log_path = ROOT / ".run" / "logs" / f"{prefix}-registration.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log_file:  # a file, not a pipe: an unread pipe would block the service
        service = subprocess.Popen([sys.executable, "-m", "services.registration"], cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while '"ready"' not in log_path.read_text(errors="replace"):
            if service.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the registration service did not become ready; see {log_path}")
            await asyncio.sleep(0.2)
        producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all", enable_idempotence=True, linger_ms=5)
        consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, auto_offset_reset="earliest", group_id=None, enable_auto_commit=False)
        await producer.start()
        await consumer.start()
        events_topic = topics(Topic.REGISTRATION_EVENTS)
        consumer.assign([TopicPartition(events_topic, p) for p in range(settings.topic_partitions)])
        for mission in MISSIONS_2020:
            event = MissionPlanned.new(source="bench", subject=mission.mission_id, payload=mission)
            await producer.send_and_wait(topics(Topic.MISSIONS), event.to_bytes(), key=event.key)
        await asyncio.sleep(2)
        payloads = [signup_bytes(i) for i in range(count)]
        started = time.perf_counter()
        for i, value in enumerate(payloads):
            await producer.send(topics(Topic.SIGNUP_FORMS), value, key=f"form-{i}".encode())
        await producer.flush()
        published = time.perf_counter() - started
        confirmed = 0
        async with asyncio.timeout(max(120, count / 5)):
            while confirmed < count:
                batch = await consumer.getmany(timeout_ms=500)
                for records in batch.values():
                    confirmed += sum(1 for r in records if json.loads(r.value)["type"] == "enrollment.confirmed.v1")
        elapsed = time.perf_counter() - started
        await producer.stop()
        await consumer.stop()
        return {"signups": count, "publish_s": published, "end_to_end_s": elapsed, "signups_per_s": count / elapsed}
    finally:
        service.terminate()
        service.wait(30)
        await delete_topics(settings, created)
        client = create_client(settings)
        await client.drop_database(settings.database_for("registration"))
        await client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--signups", type=int, default=2000)
    args = parser.parse_args()
    result = asyncio.run(run(args.signups))
    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in result.items()}))


if __name__ == "__main__":
    main()
