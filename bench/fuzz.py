"""Hostile records on every topic the services consume, against the three running services.

    .venv/bin/python bench/fuzz.py --cases 10000        # the full run: 10,000 cases per input type
    .venv/bin/python bench/fuzz.py --cases 200           # a quick one

For each consumed input (signup forms, meeting forms, operator commands, the catalogue,
registration's events and contacts, matching's events) it starts from valid events and
mutates them the ways a buggy form or a hostile client would, every choice drawn from
hypothesis strategies (seeded with ``--seed``: a run repeats the same mutations):

  truncation, nesting thousands deep, huge strings, invalid UTF-8, control characters and
  NUL, CR/LF, odd Unicode text, MongoDB operators and dotted keys, wrong types (any JSON
  value, NaN and infinities included), missing and extra fields, duplicated keys, numbers
  out of range, garbage header values (bytes, null, huge), and garbage keys; about one
  case in fifteen is left valid.

It produces them all with a plain producer (as kcat would), then checks:

* **no stall**: every consumer group of every service commits to the end of every
  partition of its topics, within ``--timeout``;
* **no crash**: the three service processes are still running;
* **every case handled or dead-lettered with a reason**: committed past, and every record
  on the dead-letter topics carries ``x-dlq-reason``.

The services run as processes on a private topic prefix and databases, removed afterwards
(bench/pipeline.py's environment); needs `make up`. Do not run it beside the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hypothesis
from aiokafka import AIOKafkaConsumer, TopicPartition
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.pipeline import environment, start_producer  # noqa: E402
from shared.contracts.edition_2020 import MISSIONS_2020  # noqa: E402
from shared.contracts.matching import MeetingRequest, MeetingRequested, ScheduleRequest, ScheduleRequested  # noqa: E402
from shared.contracts.registration import Contact, ContactDetails, ContactDetailsRecorded, Enrollment, EnrollmentConfirmed  # noqa: E402
from shared.contracts.topics import Topic  # noqa: E402
from shared.kafka import admin_client, client_security  # noqa: E402
from shared.messaging import DLQ_REASON, GROUP_TOPIC_SEPARATOR  # noqa: E402
from tests.factories import foreign, lombard, mission_planned, signup, valid_partita_iva  # noqa: E402
from tests.support import _partitions as partitions_of  # noqa: E402
from tests.support import topic_records  # noqa: E402
from tests.unit.cli.builders import meeting, registered, scheduled, utc  # noqa: E402

SERVICES = ("registration", "matching", "notifications")
CONSUMERS: dict[Topic, tuple[str, ...]] = {
    Topic.SIGNUP_FORMS: ("registration",),
    Topic.MEETING_FORMS: ("matching",),
    Topic.OPERATOR_COMMANDS: ("registration", "matching", "notifications"),
    Topic.MISSIONS: ("registration", "matching", "notifications"),
    Topic.REGISTRATION_EVENTS: ("matching", "notifications"),
    Topic.CONTACTS: ("notifications",),
    Topic.MATCHING_EVENTS: ("notifications",),
    Topic.REGISTRATION_COMMANDS: ("registration",),
    Topic.MATCHING_COMMANDS: ("matching",),
}
"""Every topic a service consumes, with the services that do: the intake topics above pass
what they accept on to the command topics, where the real work (and most stalls) would be."""
PRODUCED_TO = tuple(topic for topic in CONSUMERS if topic not in (Topic.REGISTRATION_COMMANDS, Topic.MATCHING_COMMANDS))
DLQS = {"registration": Topic.REGISTRATION_DLQ, "matching": Topic.MATCHING_DLQ, "notifications": Topic.NOTIFICATIONS_DLQ}


FUZZ_MISSION = MISSIONS_2020[0].model_copy(update={"mission_id": "fuzz-2020"})
"""The mission the valid scheduling cases plan: its own, with at most ``FIRMS`` x ``PARTNERS``
pairs, so that each valid command replans in milliseconds. Against india-2020, every valid
request or schedule command replanned a growing mission (1-1.5 s each) and the full run's
matching commands fell thousands of records behind what the fuzzer measures: stalls."""
FIRMS, PARTNERS = 6, 5


def seeds(i: int) -> dict[Topic, bytes]:
    """One valid event per input, varied by ``i``."""
    mission = FUZZ_MISSION.mission_id
    firm = f"fuzz-firm-{i % FIRMS:04d}"
    partner = f"fuzz-partner-{i % PARTNERS:04d}"
    m = meeting(f"{mission}-f{i:05d}", utc(2020, 10, 20, 9), lombard=firm, partner=partner)
    enrollment = Enrollment(
        enrollment_id=f"e{i}", company_id=firm if i % 4 else partner, mission_id=mission, role="lombard" if i % 4 else "foreign"
    )
    return {
        Topic.SIGNUP_FORMS: signup(
            lombard(company_name=f"Fuzz {i} S.r.l.", partita_iva=valid_partita_iva(f"{i % 10**10:010d}"))
            if i % 2
            else foreign(company_name=f"Fuzz Partner {i} Ltd")
        ).to_bytes(),
        Topic.MEETING_FORMS: MeetingRequested.new(
            source="forms",
            subject=mission,
            data=MeetingRequest(request_id=f"r{i}", mission_id=mission, requester_id=firm, target_id=partner),
        ).to_bytes(),
        Topic.OPERATOR_COMMANDS: ScheduleRequested.new(
            source="fuzz", subject=mission, data=ScheduleRequest(mission_id=mission, operator="fuzz", time_limit_s=1)
        ).to_bytes(),
        Topic.MISSIONS: mission_planned(MISSIONS_2020[i % len(MISSIONS_2020)]).to_bytes(),
        Topic.REGISTRATION_EVENTS: (
            registered(firm, f"Fuzz {i}") if i % 2 else EnrollmentConfirmed.new(source="registration", subject=mission, data=enrollment)
        ).to_bytes(),
        Topic.CONTACTS: ContactDetailsRecorded.new(
            source="registration",
            subject=firm,
            data=ContactDetails(
                company_id=firm, contact=Contact(name="Fuzz Person", email=f"fuzz{i}@fuzz.example"), preferred_language="it"
            ),
        ).to_bytes(),
        Topic.MATCHING_EVENTS: scheduled(m).to_bytes(),
    }


# ---------------------------------------------------------------- mutations


def _leaves(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _leaves(v, (*path, k))] or [path]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _leaves(v, (*path, i))] or [path]
    return [path]


def _set(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    target = doc
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return doc


def _containers(doc: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path] if isinstance(doc, dict) else []
    if isinstance(doc, dict):
        for k, v in doc.items():
            found += _containers(v, (*path, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            found += _containers(v, (*path, i))
    return found


def _get(doc: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        doc = doc[step]
    return doc


class Draws:
    """The choices a mutation makes, drawn from hypothesis strategies (so a run is seeded,
    reproducible, and reaches the values hypothesis is good at: odd Unicode, huge integers,
    NaN and infinities, nested containers)."""

    def __init__(self, data: st.DataObject) -> None:
        self.data = data

    def choice(self, options: Any) -> Any:
        return self.data.draw(st.sampled_from(list(options)))

    def randrange(self, low: int, high: int | None = None) -> int:
        low, high = (0, low) if high is None else (low, high)
        return self.data.draw(st.integers(low, max(low, high - 1)))

    def randbytes(self, n: int) -> bytes:
        return self.data.draw(st.binary(min_size=n, max_size=n))

    def value(self) -> Any:
        return self.data.draw(JSON_VALUES)

    def text(self) -> str:
        return self.data.draw(st.text(min_size=1, max_size=40))


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
"""Any JSON value, and some that JSON cannot say (NaN, infinities, integers of any size)."""


def mutate(raw: bytes, rng: Draws) -> tuple[str, bytes, list[tuple[str, bytes | None]]]:
    doc = json.loads(raw)
    leaf = rng.choice(_leaves(doc))
    box = _get(doc, rng.choice(_containers(doc)))
    kind = rng.choice(MUTATIONS)
    headers: list[tuple[str, bytes | None]] = []
    match kind:
        case "valid":
            return kind, raw, headers
        case "truncated":
            return kind, raw[: rng.randrange(len(raw))], headers
        case "nested":
            depth = rng.randrange(500, 20_000)
            opener, closer = rng.choice([(b"[", b"]"), (b'{"a":', b"}")])
            inner = raw if opener == b"[" else b"1"
            return kind, opener * depth + inner + closer * depth, headers
        case "huge string":
            size = 1_030_000 if rng.randrange(50) == 0 else rng.choice([10_000, 100_000, 300_000])
            _set(doc, leaf, "x" * size)
        case "invalid UTF-8":
            cut = rng.randrange(len(raw))
            return kind, raw[:cut] + rng.choice([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xfe\xfe"]) + raw[cut:], headers
        case "control characters":
            _set(doc, leaf, "".join(rng.choice(["\x00", "\x07", "\x1b", "\r\n", "\u2028", "a"]) for _ in range(20)))
        case "odd text":
            _set(doc, leaf, rng.text())
        case "MongoDB operator":
            box[rng.choice(["$where", "$set", "$gt", "$ne"])] = {"$function": "x"}
        case "dotted key":
            box["profile.company_name"] = "overwritten"
        case "wrong type":
            _set(doc, leaf, rng.value())
        case "missing field":
            if box:
                del box[rng.choice(list(box))]
        case "extra field":
            box[f"extra_{rng.randrange(1000)}"] = rng.value()
        case "duplicated key":
            return kind, b'{"id": "duplicate", "type": "x", ' + raw[1:], headers
        case "number out of range":
            text = json.dumps(_set(doc, leaf, 0)).encode()
            return (
                kind,
                text.replace(
                    b": 0", rng.choice([b": 1e999999", b": -1e999999", b": 123456789012345678901234567890", b": NaN", b": -Infinity"]), 1
                ),
                headers,
            )
        case "garbage headers":
            headers = [
                ("x-event-id", rng.randbytes(12)),
                ("x-event-type", None),
                ("correlation_id", b"c" * rng.choice([10, 10_000])),
                ("\u00e8\u00e8", b"\x00"),
            ]
            return kind, raw, headers
    return kind, json.dumps(doc).encode(), headers


MUTATIONS = [
    "truncated",
    "nested",
    "huge string",
    "invalid UTF-8",
    "control characters",
    "odd text",
    "MongoDB operator",
    "dotted key",
    "wrong type",
    "missing field",
    "extra field",
    "duplicated key",
    "number out of range",
    "garbage headers",
    "valid",
]


@dataclass(frozen=True)
class Case:
    topic: Topic
    kind: str
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes | None]]


CHUNK = 500
"""Cases generated at a time: the whole run, with its megabyte strings, would not fit in memory."""


def generate(cases: int, seed: int) -> Iterator[list[Case]]:
    """``cases`` mutated events per consumed input, drawn by hypothesis, in chunks.

    The choices are seeded (chunk ``n`` from ``seed`` and ``n``); the seed events' ids are fresh."""
    for n, start in enumerate(range(0, cases, CHUNK)):
        yield _chunk(min(CHUNK, cases - start), seed * 10_000 + n)


def _chunk(cases: int, seed: int) -> list[Case]:
    found: list[Case] = []

    @hypothesis.seed(seed)
    @hypothesis.settings(
        max_examples=cases,
        database=None,
        phases=[hypothesis.Phase.generate],
        deadline=None,
        suppress_health_check=list(hypothesis.HealthCheck),
    )
    @hypothesis.given(st.data())
    def collect(data: st.DataObject) -> None:
        draws = Draws(data)
        i = data.draw(st.integers(0, 99_999))
        example = []
        for topic, raw in seeds(i).items():
            kind, value, headers = mutate(raw, draws)
            key = data.draw(st.sampled_from([b"k1", b"k2", b"k3"]) | st.binary(min_size=1, max_size=16))
            example.append(Case(topic, kind, key, value, headers))
        found.extend(example)  # only whole examples: hypothesis may abandon one part-way

    collect()
    if len(found) != cases * len(PRODUCED_TO):
        raise RuntimeError(f"hypothesis generated {len(found) // len(PRODUCED_TO)} cases of the {cases} asked for")
    return found


# ---------------------------------------------------------------- run


async def _lags(env: Any) -> dict[str, int]:
    """Per consumer group of the services: records on its topics not yet committed past."""
    consumer = AIOKafkaConsumer(bootstrap_servers=env.settings.kafka_bootstrap, **client_security(env.settings))
    await consumer.start()
    lags: dict[str, int] = {}
    try:
        async with admin_client(env.settings) as admin:
            for topic, services in CONSUMERS.items():
                name = env.topics(topic)
                known = await partitions_of(consumer, name)
                if not known:
                    raise RuntimeError(f"no partitions known for {name}: cannot measure its lag")
                partitions = [TopicPartition(name, p) for p in known]
                ends = await consumer.end_offsets(partitions) if partitions else {}
                for service in services:
                    group = f"{env.prefix}.{service}{GROUP_TOPIC_SEPARATOR}{name}"
                    committed = await admin.list_consumer_group_offsets(group)
                    lags[group] = sum(max(0, ends[tp] - (committed[tp].offset if tp in committed else 0)) for tp in partitions)
    finally:
        await consumer.stop()
    return lags


async def run(cases: int, seed: int, timeout_s: float) -> dict[str, Any]:
    run_id = f"{seed}{int(time.time()) % 100000}"
    async with environment(run_id, "fuzz") as env:
        for service in SERVICES:
            await env.start_service(service)
        producer = await start_producer(env.settings)
        produced: Counter[tuple[str, str]] = Counter()
        try:
            for m in [*MISSIONS_2020, FUZZ_MISSION]:
                await producer.send_and_wait(env.topics(Topic.MISSIONS), mission_planned(m).to_bytes(), key=m.mission_id.encode())
            began = time.monotonic()
            for chunk in generate(cases, seed):
                for case in chunk:
                    await producer.send(env.topics(case.topic), case.value, key=case.key, headers=case.headers)
                    produced[(case.topic.value, case.kind)] += 1
            await producer.flush()
            sent_s = time.monotonic() - began
        finally:
            await producer.stop()
        deadline = time.monotonic() + timeout_s
        while True:
            lags = await _lags(env)
            crashed = [s for s, p in env.processes.items() if p.poll() is not None]
            if crashed or not any(lags.values()) or time.monotonic() > deadline:
                break
            await asyncio.sleep(2)
        drained_s = time.monotonic() - began
        dead: Counter[str] = Counter()
        unexplained = 0
        for service, topic in DLQS.items():
            for record in await topic_records(env.settings, env.topics(topic)):
                reason = dict(record.headers or ()).get(DLQ_REASON)
                dead[f"{service}: {reason.decode() if reason else '(none)'}"] += 1
                unexplained += reason is None
        return {
            "cases_per_input": cases,
            "inputs": len(PRODUCED_TO),
            "records": sum(produced.values()),
            "produce_s": round(sent_s, 1),
            "drained_s": round(drained_s, 1),
            "stalled_groups": {g: lag for g, lag in lags.items() if lag},
            "crashed": crashed,
            "dead_lettered": dict(dead),
            "dead_letters_without_reason": unexplained,
            "mutations": dict(Counter(kind for (_, kind), n in produced.items() for _ in range(n))),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=10_000, help="cases per input type")
    parser.add_argument("--seed", type=int, default=2020)
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds for the services to drain everything")
    args = parser.parse_args()
    result = asyncio.run(run(args.cases, args.seed, args.timeout))
    print(json.dumps(result, indent=1))
    ok = not result["stalled_groups"] and not result["crashed"] and not result["dead_letters_without_reason"]
    print("PASS: 0 stalls, 0 crashes, every dead letter with a reason" if ok else "FAIL")
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
