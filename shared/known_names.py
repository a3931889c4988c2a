"""The names of the contacts this process knows, so that log lines can mask them.

A name is not recognisable by its shape the way an e-mail address is, so the services that
hold contacts (registration and notifications; matching knows none) tell this registry about
each contact they load or store, and log redaction masks those names as whole words, in any
case and script. The registry lives in memory only: nothing is written anywhere, a restart
forgets every name, and an erasure forgets the company's names at once (``forget``).

Names in scripts written without spaces between words (Chinese, Japanese, Thai…) cannot be
matched as whole words; they are matched wherever they occur.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections import Counter
from functools import cache, lru_cache

MIN_NAME_CHARS = 3
"""A shorter name (a lone initial, "Li") would mask common words; scripts without spaces: 2."""
_UNSPACED_SCRIPT = re.compile(
    "[\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]"
)
"""Thai, Lao, Myanmar, Khmer, kana and Han: scripts written without spaces between words."""
_SEPARATORS = frozenset(" \t\u00a0\u2009\u202f-\u2010\u2011'\u2019.")
"""What may stand between the words of a name in a text: "Jean-Luc O'Brien", "Rossi  Maria"."""
MAX_SEPARATOR_RUN = 3
UNSPACED = "\x00"
"""First element of the key of a name in a script without spaces; the rest are its spellings."""


@cache
def combining_marks() -> str:
    """The combining marks (accents written apart, the vowel signs of Indic scripts) as the
    ranges of a regex character class: ``\\w`` alone would cut "भारत", or an "é" written as "e"
    and U+0301, in pieces."""
    points = [*range(0x20000), *range(0xE0000, 0xE1000)]  # the planes that hold combining marks
    ranges: list[list[int]] = []
    for c in points:
        if unicodedata.category(chr(c)) in ("Mn", "Mc", "Me"):
            if ranges and ranges[-1][1] == c - 1:
                ranges[-1][1] = c
            else:
                ranges.append([c, c])
    return "".join(f"\\U{a:08x}-\\U{b:08x}" if a != b else f"\\U{a:08x}" for a, b in ranges)


@cache
def _word() -> re.Pattern[str]:
    """A word: letters, digits and the marks that belong to them."""
    return re.compile(f"[\\w{combining_marks()}]+")


def _folded(word: str) -> str:
    """Case and accents do not make another word: "JOSÉ", "José" and "Jose" are one."""
    decomposed = unicodedata.normalize("NFKD", word)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


class KnownNames:
    """Contact names by owner (a company id) and source (its contact, a signup's applicant)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._owners: dict[str, dict[str, tuple[str, ...]]] = {}
        self._words: Counter[tuple[str, ...]] = Counter()
        self._by_first: dict[str, set[tuple[str, ...]]] = {}
        self._unspaced: Counter[str] = Counter()

    def remember(self, owner: str, name: str | None, source: str = "contact") -> None:
        """``owner``'s name from ``source``, replacing the one that source gave before."""
        key = _key(name) if name else None
        with self._lock:
            sources = self._owners.setdefault(owner, {})
            old = sources.pop(source, None)
            if old is not None:
                self._drop(old)
            if key is not None:
                sources[source] = key
                self._add(key)
            if not sources:
                del self._owners[owner]

    def forget(self, owner: str) -> None:
        """Erasure: every name the owner had is gone from this process."""
        with self._lock:
            for key in self._owners.pop(owner, {}).values():
                self._drop(key)

    def clear(self) -> None:
        with self._lock:
            self._owners.clear()
            self._words.clear()
            self._by_first.clear()
            self._unspaced.clear()

    def __bool__(self) -> bool:
        return bool(self._owners)

    def __len__(self) -> int:
        with self._lock:
            return sum(len(sources) for sources in self._owners.values())

    def spans(self, text: str) -> list[tuple[int, int]]:
        """Where known names stand in ``text``, as whole words (or anywhere, for names in
        scripts without spaces), in any case and with or without accents."""
        if not self._owners:
            return []
        with self._lock:
            found = self._unspaced_spans(text) if self._unspaced else []
            if self._by_first:
                found += self._word_spans(text)
        return found

    # ------------------------------------------------------------ internals (under the lock)

    def _add(self, key: tuple[str, ...]) -> None:
        if key[0] == UNSPACED:
            self._unspaced.update(key[1:])
            return
        for order in _orders(key):
            self._words[order] += 1
            self._by_first.setdefault(order[0], set()).add(order)

    def _drop(self, key: tuple[str, ...]) -> None:
        if key[0] == UNSPACED:
            self._unspaced.subtract(key[1:])
            for variant in key[1:]:
                if self._unspaced[variant] <= 0:
                    del self._unspaced[variant]
            return
        for order in _orders(key):
            self._words[order] -= 1
            if self._words[order] <= 0:
                del self._words[order]
                firsts = self._by_first[order[0]]
                firsts.discard(order)
                if not firsts:
                    del self._by_first[order[0]]

    def _word_spans(self, text: str) -> list[tuple[int, int]]:
        words = list(_word().finditer(text))
        folded = [_folded(w.group(0)) for w in words]
        found = []
        for i, first in enumerate(folded):
            for name in sorted(self._by_first.get(first, ()), key=len, reverse=True):
                end = i + len(name)
                if tuple(folded[i:end]) == name and all(_joins(text, words[j].end(), words[j + 1].start()) for j in range(i, end - 1)):
                    found.append((words[i].start(), words[end - 1].end()))
                    break
        return found

    def _unspaced_spans(self, text: str) -> list[tuple[int, int]]:
        if not _UNSPACED_SCRIPT.search(text):
            return []
        folded, origin = _folded_text(text)
        found = []
        for name in self._unspaced:
            start = folded.find(name)
            while start >= 0:
                end = start + len(name)
                found.append((origin[start], origin[end - 1] + 1))
                start = folded.find(name, end)
        return found


@lru_cache(maxsize=4096)
def _folded_char(ch: str) -> str:
    return _folded(ch)


def _folded_text(text: str) -> tuple[str, list[int]]:
    """``text`` folded as names are, and the index in ``text`` each folded character comes from."""
    pieces, origin = [], []
    for i, ch in enumerate(text):
        folded = _folded_char(ch)
        pieces.append(folded)
        origin += [i] * len(folded)
    return "".join(pieces), origin


def _key(name: str) -> tuple[str, ...] | None:
    """A name as words compared case- and accent-blind; scripts without spaces: one string."""
    if _UNSPACED_SCRIPT.search(name):
        spaced = " ".join(_folded_text(name)[0].split())
        letters = spaced.replace(" ", "")
        return (UNSPACED, *dict.fromkeys((spaced, letters))) if len(letters) >= 2 else None
    name = unicodedata.normalize("NFKC", name)
    words = tuple(_folded(w) for w in _word().findall(name))
    return words if sum(len(w) for w in words) >= MIN_NAME_CHARS else None


def _orders(key: tuple[str, ...]) -> set[tuple[str, ...]]:
    """The name's words in their order and with the surname first: "Rossi Maria", and
    "Müller-Lüdenscheidt José" for "José Müller-Lüdenscheidt"."""
    return {key[i:] + key[:i] for i in range(len(key))}


def _joins(text: str, start: int, end: int) -> bool:
    gap = text[start:end]
    return 0 < len(gap) <= MAX_SEPARATOR_RUN and all(ch in _SEPARATORS for ch in gap)


KNOWN_NAMES = KnownNames()
"""The process's registry: registration and notifications feed it (their contact_names.py),
log redaction (shared/redaction.py) reads it."""
