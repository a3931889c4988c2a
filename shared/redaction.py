"""What a log line may not show (e-mail addresses, phone numbers, known contact names, URL
passwords), and the ids it must keep as they are.

Addresses are found in any script: Unicode local parts, IDN domains (``用户@例子.中国``,
``josé@bücher.example``, ``xn--…``) and quoted local parts. Phone numbers are E.164 or a
national format with separators; a bare run of digits is never one, because offsets, epoch
times and partite IVA are bare runs. Ids are found first and kept whole: uuids, hex ids,
compound ids (``india-2020:3f2a…``), ISO dates and times, IPv4 addresses, and Message-IDs
(``<…@…>``), which look like addresses. A Message-ID is kept when it is labelled as one
(``Message-ID:``, ``message_id=``, a ``message_id`` key) or its left part is machine-made (a
run of 16 hex digits, or ``make_msgid``'s ``time.pid.random``); any other ``<…@…>`` is taken
for an address. A partita IVA is a public business identifier, not personal data: kept.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from shared.known_names import KNOWN_NAMES, combining_marks
from shared.urls import MASKED_PASSWORD, redact_url

REDACTED_EMAIL = "[email]"
REDACTED_PHONE = "[phone]"
REDACTED_NAME = "[name]"
SENSITIVE_KEYS = frozenset({"email", "phone", "contact", "contact_name", "password", "person", "secret", "token", "authorization"})
MAX_LOGGED_STRING = 2000
"""Longer string values are cut in log lines: a hostile record must not make its log line huge."""

_MARKS = combining_marks()
_LOCAL = rf"\w{_MARKS}.!#$%&'*+/=?^`{{|}}~\-"
_DOT = "[.\u3002\uff0e\uff61]"
_LABEL = rf"[\w{_MARKS}\-]{{1,63}}"
_TLD = rf"(?:[xX][nN]--[a-zA-Z0-9\-]{{1,59}}|[^\W\d_](?:[^\W\d_]|[{_MARKS}]){{1,62}})"
_DOMAIN = rf"(?:(?:{_LABEL}{_DOT})+{_TLD}|\[[0-9A-Fa-f:.]{{2,45}}\])"
EMAIL_PATTERN = re.compile(rf"(?<![{_LOCAL}])[{_LOCAL}]+@{_DOMAIN}|\"(?:[^\"\\\r\n]|\\.){{1,64}}\"@{_DOMAIN}")
"""Starts only where a local part can start: without the look-behind, a long run of letters
with no "@" made the search quadratic (100 KB took 15 s, and stalled a consumer)."""

_SEP = "[ .\\-/\u00a0]"
_INTERNATIONAL = rf"\d{{1,14}}(?:{_SEP}?\(\d{{1,4}}\)\d{{0,10}})?(?:{_SEP}\d{{1,10}}){{0,6}}"
_NATIONAL = "|".join(
    [
        rf"00{_INTERNATIONAL}",  # 0039 02 1234 5678
        rf"(?:8{_SEP}?)?\(\d{{2,5}}\){_SEP}?\d{{2,8}}(?:{_SEP}\d{{2,8}}){{0,4}}",  # (02) 1234 5678, (415) 555-2671, 8 (495) 123-45-67
        rf"0\d{{1,4}}(?:{_SEP}\d{{2,8}}){{1,4}}",  # 02 1234 5678, 020 7946 0958, 010 1234 5678, 0341-123456
        rf"3\d{{2}}(?:{_SEP}\d{{2,7}}){{1,3}}",  # Italian mobiles: 333 123 4567, 347/1234567
        r"[2-9]\d{2}[\-. ]\d{3}[\-. ]\d{4}",  # North America: 415-555-2671
        r"[6-9]\d{4}[ \-]\d{5}",  # Indian mobiles: 98765 43210
        r"1[3-9]\d[ \-]\d{4}[ \-]\d{4}",  # Chinese mobiles: 138 0013 8000
        rf"8{_SEP}\d{{3}}{_SEP}\d{{3}}(?:{_SEP}\d{{2}}){{2}}",  # Russia: 8 495 123-45-67
    ]
)
PHONE_PATTERN = re.compile(rf"(?:(?<![+\d])\+{_INTERNATIONAL}|(?<![\w+])(?:{_NATIONAL}))(?!\w)")
"""E.164 (``+39 02 1234 5678``, ``+393331234567``, ``0039 …``) and national formats with
separators; never a bare run of digits. Checked further by ``_is_phone``. Whatever stands
before a "+" or after the number ("attempt 2 +39 …", "… 5678 3 times"), it is masked."""
_THOUSANDS = re.compile(r"[1-9]\d{0,2}(?:[ .]\d{3})+")

_HEX = "[0-9A-Fa-f]"
_MESSAGE_ID = r"<[^<>\s@]{1,250}@[^<>\s@]{1,250}>"
_MACHINE_MADE = rf"<(?=[^<>\s@]{{0,200}}?(?:{_HEX}{{16}}|\d{{9,}}\.\d+\.\d+))[^<>\s@]{{1,250}}@[^<>\s@]{{1,250}}>"
_LABELLED = r"(?i:message[-_ ]?id|msg[-_]?id|in-reply-to|references|content-id)[\"']?\s*[:=]\s*[\"']?\s*"
MESSAGE_ID_PATTERN = re.compile(rf"{_LABELLED}(?P<ids>{_MESSAGE_ID}(?:\s+{_MESSAGE_ID})*)|(?P<bare>{_MACHINE_MADE})")
ANY_MESSAGE_ID = re.compile(_MESSAGE_ID)
ID_PATTERN = re.compile(
    "|".join(
        [
            rf"(?<![\w\-]){_HEX}{{8}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{12}}(?!\w)",  # uuid
            rf"(?<!\w){_HEX}{{16,}}(?!\w)",  # uuid hex, hashes
            r"(?<![\w.])\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d{1,9})?)?)?(?:Z|[+-]\d{2}(?::?\d{2}){0,2}(?:\.\d+)?)?(?!\w)",
            r"(?<![\w.])\d{1,2}[./\-]\d{1,2}[./\-]\d{4}(?!\w)",  # 19/10/2020, 19.10.2020
            r"(?<![\w.])\d{1,3}(?:\.\d{1,3}){3}(?::\d{1,5})?(?![\w.])",  # IPv4
            r"(?<![\w:.\-])[^\W\d_][\w\-]*(?::[\w\-]+)+(?![\w:\-@])",  # compound ids with a digit: india-2020:3f2a…
            rf"(?<![\w+.\-])(?i:[a-z][a-z0-9+.\-]{{0,30}})://[^\s/?#\"'<>@]*:{re.escape(MASKED_PASSWORD)}@[^\s/?#\"'<>@]*",  # a URL's masked password and host
        ]
    )
)
_MESSAGE_ID_KEY = re.compile(r"(?i)^(?:message[-_]?id|msg[-_]?id|in[-_]reply[-_]to|references)$")
_ESCAPE = re.compile(r"\\(?:u[0-9a-fA-F]{4}|x[0-9a-fA-F]{2}|[ntr\"'\\/])")
_SIMPLE_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "'": "'", "\\": "\\", "/": "/"}
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;:?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")

_DIGIT = re.compile(r"\d")

Span = tuple[int, int]


def redact_text(text: str, *, message_ids: bool = False) -> str:
    """``text`` with addresses, phone numbers, known names and URL passwords masked, ids kept.
    ``message_ids``: the text is a Message-ID field, so every ``<…@…>`` in it is kept."""
    if "://" in text:
        text = redact_url(text)
    view, origin = _unescaped(text)
    has_at, has_digit = "@" in view, _DIGIT.search(view) is not None
    if not (has_at or has_digit or KNOWN_NAMES):
        return text
    kept, message_id_spans = _kept(view, message_ids) if has_at or has_digit else ([], [])
    masks: list[tuple[int, int, str]] = []
    if has_at:
        masks += [(*m.span(), REDACTED_EMAIL) for m in EMAIL_PATTERN.finditer(view) if not _within(m.span(), message_id_spans)]
    if has_digit:
        masks += [
            (*m.span(), REDACTED_PHONE) for m in PHONE_PATTERN.finditer(view) if _is_phone(m.group(0)) and not _overlaps(m.span(), kept)
        ]
    masks += [(*span, REDACTED_NAME) for span in KNOWN_NAMES.spans(view) if not _within(span, kept)]
    if origin is not None:
        masks = [(origin[start], origin[end], label) for start, end, label in masks]
    return _masked(text, masks) if masks else text


def _unescaped(text: str) -> tuple[str, list[int] | None]:
    """``text`` with its backslash escapes decoded (a repr's ``\\n``, a JSON text's ``\\u00e9``),
    and where each of its characters came from: an escape must neither join a word to the one
    before (``\\nMaria``) nor hide a letter (``jos\\u00e9@…``)."""
    if "\\" not in text:
        return text, None
    pieces, origin, position = [], [], 0
    for escape in _ESCAPE.finditer(text):
        pieces += [text[position : escape.start()], _decoded(escape.group(0))]
        origin += [*range(position, escape.start()), escape.start()]
        position = escape.end()
    pieces.append(text[position:])
    origin += range(position, len(text) + 1)
    return "".join(pieces), origin


def _decoded(escape: str) -> str:
    return _SIMPLE_ESCAPES.get(escape[1]) or escape.encode("ascii").decode("unicode_escape")


def _kept(text: str, message_ids: bool) -> tuple[list[Span], list[Span]]:
    """The ids in ``text``, and among them the Message-IDs and masked URLs (which hold an "@")."""
    at_ids: list[Span] = []
    if "@" in text:
        if message_ids:
            at_ids += [m.span() for m in ANY_MESSAGE_ID.finditer(text)]
        at_ids += [m.span("ids") if m["ids"] else m.span("bare") for m in MESSAGE_ID_PATTERN.finditer(text)]
    ids = [m.span() for m in ID_PATTERN.finditer(text) if any(ch.isdigit() for ch in m.group(0)) or "://" in m.group(0)]
    at_ids += [span for span in ids if "://" in text[span[0] : span[1]]]
    return ids + at_ids, at_ids


def _is_phone(candidate: str) -> bool:
    digits = sum(ch.isdigit() for ch in candidate)
    if not 8 <= digits <= 15:
        return False
    separators = {ch for ch in candidate if not ch.isdigit() and ch not in "()+"}
    if candidate[0] == "+" or candidate.startswith("00"):
        return candidate[0] == "+" or bool(separators)  # 0012345678 is a zero-padded number
    if separators == {"."} and candidate.count(".") < 2:
        return False  # a decimal number: 312.34567
    return not _THOUSANDS.fullmatch(candidate)  # 312 345 678 is a count


def _within(span: Span, spans: list[Span]) -> bool:
    return any(start <= span[0] and span[1] <= end for start, end in spans)


def _overlaps(span: Span, spans: list[Span]) -> bool:
    return any(span[0] < end and start < span[1] for start, end in spans)


def _masked(text: str, masks: list[tuple[int, int, str]]) -> str:
    """Each run of overlapping matches becomes one mask: the first and longest match's."""
    out, position = [], 0
    for start, end, label in sorted(masks, key=lambda mask: (mask[0], -mask[1])):
        if start < position:  # overlaps the previous mask: widen it
            position = max(position, end)
            continue
        out += [text[position:start], label]
        position = end
    out.append(text[position:])
    return "".join(out)


def redact_value(value: Any, key: str | None = None) -> Any:
    """Strings anywhere in ``value`` redacted; the values of sensitive keys masked whole."""
    if isinstance(value, str):
        return redact_text(value, message_ids=key is not None and bool(_MESSAGE_ID_KEY.match(key)))
    if isinstance(value, Mapping):
        return {
            redact_text(k) if isinstance(k, str) else k: "[redacted]" if str(k).lower() in SENSITIVE_KEYS else redact_value(v, str(k))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact_value(v, key) for v in value]
    if isinstance(value, tuple):  # exc_info stays a tuple, which structlog expects
        return tuple(redact_value(v, key) for v in value)
    return value


def _cut(value: Any) -> Any:
    if isinstance(value, str) and len(value) > MAX_LOGGED_STRING:
        return f"{value[:MAX_LOGGED_STRING]}… ({len(value)} characters)"
    if isinstance(value, Mapping):
        return {k: _cut(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_cut(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_cut(v) for v in value)
    return value


def redact_personal_data(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """structlog processor: mask personal data in every value, then cut long strings (in that
    order: a cut must not leave half an address that no pattern recognises)."""
    return {key: _cut(value) for key, value in redact_value(event_dict).items()}


def redact_json_line(line: str) -> str:
    """A rendered JSON line, redacted on its decoded strings: escapes (``\\u00e9``, ``\\n``)
    cannot hide an address, and the line stays valid JSON."""
    try:
        decoded = json.loads(line)
    except ValueError:
        return redact_text(line)
    return json.dumps(redact_value(decoded))


def redact_console_line(line: str) -> str:
    """A rendered console line, colours and traceback included. A line with something to mask
    loses its colours: an escape sequence could otherwise split what the patterns must see."""
    plain = ANSI_ESCAPE.sub("", line)
    redacted = redact_text(plain)
    return line if redacted == plain else redacted
