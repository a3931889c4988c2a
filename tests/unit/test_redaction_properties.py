"""Whatever the renderer (JSON or console) and wherever personal data stands in an event (its
message, a value, an object's repr, an exception's message, a chained exception's traceback,
a stdlib logger's record), the rendered line never shows it; and ids always come out whole."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import re
import unicodedata
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import structlog
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.notifications.domain.message import message_id
from shared.known_names import KNOWN_NAMES
from shared.logging import configure_logging
from shared.redaction import ANSI_ESCAPE

RENDERERS = pytest.mark.parametrize("json_output", [True, False], ids=["json", "console"])
PROPERTY = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

FILLER = st.lists(
    st.sampled_from(["sent", "to", "the", "contact", "of", "mission", "retry", "failed", "ok", "for", "2", "3"]), min_size=0, max_size=6
)
SEPARATOR = st.sampled_from([" ", ", ", ": ", " (", ") ", " <", "> ", " '", "' ", ' "', '" ', "\n", "\t", " = "])


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    yield
    KNOWN_NAMES.clear()
    configure_logging("tests", "INFO", json_output=False)


class Holder:
    """An object whose repr carries the datum: only the rendered line can show it."""

    def __init__(self, datum: str) -> None:
        self.datum = datum

    def __repr__(self) -> str:
        return f"Holder({self.datum!r})"


def _raise_chained(text: str) -> None:
    try:
        raise KeyError(text)
    except KeyError as cause:
        error = RuntimeError(f"could not deliver: {text}")
        error.add_note(f"note: {text}")
        raise error from cause


EMITTERS: dict[str, Callable[[str], None]] = {}


def emitter(name: str) -> Callable[[Callable[[str], None]], Callable[[str], None]]:
    def register(function: Callable[[str], None]) -> Callable[[str], None]:
        EMITTERS[name] = function
        return function

    return register


@emitter("message")
def _in_message(text: str) -> None:
    structlog.stdlib.get_logger("outgoing.registration").info(text)


@emitter("value")
def _in_value(text: str) -> None:
    structlog.stdlib.get_logger("outgoing.registration").warning("dead-lettered", detail=text, items=[text, {"nested": text}])


@emitter("repr")
def _in_repr(text: str) -> None:
    structlog.stdlib.get_logger("outgoing.registration").info("state", holder=Holder(text))


@emitter("exception")
def _in_exception(text: str) -> None:
    try:
        _raise_chained(text)
    except RuntimeError:
        structlog.stdlib.get_logger("outgoing.registration").exception("handler failed")


@emitter("stdlib")
def _in_stdlib_record(text: str) -> None:
    try:
        raise ValueError(text)
    except ValueError:
        logging.getLogger("aiokafka").exception("broker says %s", text)


def rendered(json_output: bool, text: str) -> str:
    """Every emitter's output for ``text``, through the services' own logging set-up."""
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        configure_logging("registration", "INFO", json_output=json_output)
    for emit in EMITTERS.values():
        emit(text)
    return buffer.getvalue()


def readable(output: str, json_output: bool) -> str:
    """What a reader of the lines sees: JSON strings decoded (escapes cannot hide anything)."""
    if json_output:
        output += "\n" + "\n".join(_strings(json.loads(line)) for line in output.splitlines())
    else:
        output = ANSI_ESCAPE.sub("", output)
    return output + "\n" + re.sub(r"\\[ntr]", " ", output)  # and reprs' escapes, which must not hide a word's start


def _strings(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return "\n".join(f"{k}\n{_strings(v)}" for k, v in value.items())
    if isinstance(value, list):
        return "\n".join(_strings(v) for v in value)
    return str(value)


@st.composite
def embedded(draw: st.DrawFn, datum: str) -> str:
    words = draw(FILLER)
    at = draw(st.integers(0, len(words)))
    parts = [*words[:at], datum, *words[at:]]
    return "".join(part + draw(SEPARATOR) for part in parts)


# ---------------------------------------------------------------- personal data

_LETTERS = st.characters(categories=("Ll", "Lu", "Lo"), max_codepoint=0x9FFF).filter(
    lambda ch: unicodedata.normalize("NFKC", ch) == ch and len(ch.upper()) == 1 and ch.upper().casefold() == ch.casefold()
)
_LABEL = st.text(_LETTERS | st.sampled_from("0123456789"), min_size=1, max_size=8)
_TLD = st.sampled_from(["com", "it", "中国", "рф", "भारत", "xn--p1ai", "example", "co", "ελ"]) | st.text(_LETTERS, min_size=2, max_size=6)
UNICODE_DOMAINS = st.builds(lambda labels, tld: ".".join([*labels, tld]), st.lists(_LABEL, min_size=1, max_size=3), _TLD)
UNICODE_LOCAL = st.builds(
    ".".join, st.lists(st.text(_LETTERS | st.sampled_from("0123456789+_-"), min_size=1, max_size=10), min_size=1, max_size=3)
)
QUOTED_LOCAL = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x24F, exclude_characters='"\\'), min_size=1, max_size=20).map(
    lambda text: f'"{text}"'
)
EMAILS = st.emails() | st.builds(lambda local, domain: f"{local}@{domain}", UNICODE_LOCAL | QUOTED_LOCAL, UNICODE_DOMAINS)

PHONE_TEMPLATES = [
    "+39 02 #### ####", "+39 3## #######", "+393#########", "+1 (N##) N##-####", "+1 N##-N##-####", "+44 20 #### ####",
    "+44 (0)20 #### ####", "+44 7### ######", "+7 495 ###-##-##", "+7 (495) ###-##-##", "+86 13# #### ####", "+91 M#### #####",
    "+49 30 ########", "+33 6 ## ## ## ##", "0039 02 #### ####", "02 #### ####", "02-########", "0341 ######", "3## ### ####",
    "3##.###.####", "3##/#######", "(02) #### ####", "(N##) N##-####", "N##-N##-####", "N##.N##.####", "020 #### ####",
    "07### ######", "M#### #####", "13# #### ####", "010 #### ####", "8 (495) ###-##-##", "8 495 ###-##-##",
]  # fmt: skip
_DIGITS = {"#": "0123456789", "N": "23456789", "M": "6789"}


@st.composite
def phones(draw: st.DrawFn) -> str:
    template = draw(st.sampled_from(PHONE_TEMPLATES))
    return "".join(draw(st.sampled_from(_DIGITS[ch])) if ch in _DIGITS else ch for ch in template)


_NAME_WORD = st.text(_LETTERS, min_size=3, max_size=9).filter(
    lambda w: any(ord(ch) > 127 for ch in w) and not re.search("[\u3040-\u9fff]", w)
)
SPACED_NAMES = st.builds(
    lambda words, joiner: joiner.join(words), st.lists(_NAME_WORD, min_size=1, max_size=3), st.sampled_from([" ", "-", "'"])
)
HAN_NAMES = st.text(st.characters(min_codepoint=0x4E00, max_codepoint=0x9FA5), min_size=2, max_size=4)


@RENDERERS
@PROPERTY
@given(data=st.data(), email=EMAILS)
def test_no_address_in_any_rendered_line(json_output: bool, data: st.DataObject, email: str) -> None:
    output = readable(rendered(json_output, data.draw(embedded(email))), json_output)
    local, domain = email.rsplit("@", 1)
    for part in (email, f"{local}@", f"@{domain}"):
        assert part.casefold() not in output.casefold(), part


@RENDERERS
@PROPERTY
@given(data=st.data(), phone=phones())
def test_no_phone_number_in_any_rendered_line(json_output: bool, data: st.DataObject, phone: str) -> None:
    output = readable(rendered(json_output, data.draw(embedded(phone))), json_output)
    assert phone not in output
    tail = re.search(r"\d+\D+\d+$", phone)
    assert (tail.group(0) if tail else phone) not in output, "nor its last groups"


@RENDERERS
@PROPERTY
@given(data=st.data(), name=SPACED_NAMES, case=st.sampled_from([str, str.upper, str.lower, str.title, str.casefold]))
def test_no_known_name_in_any_rendered_line(json_output: bool, data: st.DataObject, name: str, case: Callable[[str], str]) -> None:
    KNOWN_NAMES.clear()
    KNOWN_NAMES.remember("company-1", name)
    written = case(name)
    output = readable(rendered(json_output, data.draw(embedded(written))), json_output)
    assert not re.search(rf"(?<!\w){re.escape(written)}(?!\w)", output, re.IGNORECASE)


@RENDERERS
@PROPERTY
@given(name=HAN_NAMES, before=st.sampled_from(["联系人", "", "客户"]), after=st.sampled_from(["已确认", "", "先生"]))
def test_names_in_scripts_without_spaces_are_masked_inside_words(json_output: bool, name: str, before: str, after: str) -> None:
    KNOWN_NAMES.clear()
    KNOWN_NAMES.remember("company-1", name)
    assert name not in readable(rendered(json_output, f"{before}{name}{after}"), json_output)


# ---------------------------------------------------------------- ids that stay whole

EARLIEST, LATEST = datetime(1970, 1, 1), datetime(2100, 1, 1)  # noqa: DTZ001 - hypothesis takes naive bounds, then adds the zone
UTC_MOMENTS = st.datetimes(EARLIEST, LATEST, timezones=st.just(UTC))
_TIMESTAMPS = UTC_MOMENTS.flatmap(
    lambda moment: st.sampled_from(
        [
            moment.isoformat(),
            moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
            moment.strftime("%Y-%m-%dT%H:%MZ"),
            moment.date().isoformat(),
            moment.astimezone(timezone(timedelta(hours=5, minutes=30))).isoformat(),
            str(moment),
            str(int(moment.timestamp() * 1000)),
        ]
    )
)
_HEX20 = st.uuids().map(lambda u: u.hex[:20])
_MISSIONS = st.sampled_from(["india-2020", "russia-2020", "uk-2020", "canada-2020", "china-2020"])
IDS = st.one_of(
    st.uuids(version=4).map(str),
    st.builds(lambda name: uuid.uuid5(uuid.NAMESPACE_URL, name).hex, st.text(max_size=20)),
    st.builds(lambda mission, tail: f"{mission}:{tail}", _MISSIONS, _HEX20),
    st.builds(lambda mission, tail, company: f"reminder:{mission}:{tail}:{company}:86400", _MISSIONS, _HEX20, st.uuids().map(str)),
    st.builds(lambda company, moment: f"{company}@{moment:%Y-%m-%dT%H:%MZ}", st.uuids().map(str), UTC_MOMENTS),
    st.text(min_size=1, max_size=30).map(message_id),
    _TIMESTAMPS,
    st.integers(0, 2**63 - 1).map(str),
    st.from_regex(r"(IT)?[0-9]{11}", fullmatch=True),
    st.builds(lambda a, b, c, d: f"{a}.{b}.{c}.{d}", *[st.integers(0, 255)] * 4),
)
LABELLED_MESSAGE_IDS = st.one_of(
    st.builds(  # email.utils.make_msgid's shape: time, pid, random number
        lambda t, pid, n, domain: f"<{t}.{pid}.{n}@{domain}>",
        st.integers(10**11, 10**12),
        st.integers(1, 4_194_304),
        st.integers(0, 2**64),
        st.sampled_from(["mail.example.com", "notifications.outgoing"]),
    ),
    st.emails().map(lambda address: f"<{address}>"),
    st.builds(lambda local, domain: f"<{local}@{domain}>", st.from_regex(r"[A-Za-z0-9=+_.$-]{4,40}", fullmatch=True), UNICODE_DOMAINS),
)


@RENDERERS
@PROPERTY
@given(data=st.data(), identifier=IDS, email=EMAILS, phone=phones())
def test_ids_come_out_whole(json_output: bool, data: st.DataObject, identifier: str, email: str, phone: str) -> None:
    text = data.draw(embedded(identifier)) + f" to {email} or {phone} "
    output = readable(rendered(json_output, text), json_output)
    assert identifier in output
    assert email not in output and phone not in output


@RENDERERS
@PROPERTY
@given(data=st.data(), identifier=LABELLED_MESSAGE_IDS, label=st.sampled_from(["Message-ID: ", "message_id=", "In-Reply-To: "]))
def test_labelled_message_ids_come_out_whole(json_output: bool, data: st.DataObject, identifier: str, label: str) -> None:
    output = readable(rendered(json_output, data.draw(embedded(f"{label}{identifier}"))), json_output)
    assert identifier in output


@RENDERERS
@PROPERTY
@given(identifier=LABELLED_MESSAGE_IDS)
def test_message_ids_under_a_message_id_key_come_out_whole(json_output: bool, identifier: str) -> None:
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        configure_logging("notifications", "INFO", json_output=json_output)
    structlog.stdlib.get_logger("outgoing.notifications").info("sent", message_id=identifier, attempt=1)
    assert identifier in readable(buffer.getvalue(), json_output)
