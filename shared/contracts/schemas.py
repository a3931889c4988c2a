"""The JSON Schema of each event type's ``data``, generated from the pydantic models, and the
rule that guards them: within one ``.vN`` a schema may grow, never break.

What we accept from outside (forms, operators, CRMs) is published closed
(``additionalProperties: false``), as the decoders are strict. What the services emit is
published open: a new optional field within ``.vN`` is a compatible change, and readers
must ignore the fields they do not know.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import TypeAdapter

from shared.contracts.catalog import declared_event_types
from shared.contracts.channels import CHANNELS, CRMS, OPERATORS, UPSTREAM_FORMS
from shared.contracts.envelope import Envelope, schema_uri

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
OUTSIDE_WRITERS = frozenset({UPSTREAM_FORMS, OPERATORS, CRMS})
_DOCUMENTATION = frozenset({"title", "description", "examples", "$comment", "$id", "$schema"})


def accepted_from_outside(event_type: str) -> bool:
    return any(event_type in c.event_types and OUTSIDE_WRITERS.intersection(c.writers) for c in CHANNELS)


def data_schema(event_class: type[Envelope[Any]]) -> dict[str, Any]:
    """The schema ``dataschema`` points to: of ``data`` only, as CloudEvents defines it."""
    event_type = event_class.EVENT_TYPE
    payload: Any = event_class.model_fields["data"].annotation
    generated = _without_openapi(TypeAdapter(payload).json_schema(mode="validation"))
    if not accepted_from_outside(event_type):
        generated = _opened(generated)
    description = (event_class.__doc__ or "").strip() or generated.get("description")
    head = {"$schema": JSON_SCHEMA_DIALECT, "$id": schema_uri(event_type), "title": event_type}
    if description:
        head["description"] = description
    return head | {k: v for k, v in generated.items() if k not in ("title", "description")}


def all_data_schemas() -> dict[str, dict[str, Any]]:
    return {event_type: data_schema(event_class) for event_type, event_class in declared_event_types().items()}


def schema_text(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def _without_openapi(node: Any) -> Any:
    """Pydantic marks tagged unions with OpenAPI's ``discriminator`` object, which JSON Schema and AsyncAPI do not know."""
    if isinstance(node, dict):
        return {k: _without_openapi(v) for k, v in node.items() if not (k == "discriminator" and isinstance(v, dict))}
    if isinstance(node, list):
        return [_without_openapi(v) for v in node]
    return node


def _opened(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _opened(v) for k, v in node.items() if not (k == "additionalProperties" and v is False)}
    if isinstance(node, list):
        return [_opened(v) for v in node]
    return node


# ---------------------------------------------------------------- compatibility


def breaking_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """What in ``new`` breaks a reader or a producer of ``old``, or a replay of records written under it.

    Breaking: a field removed or renamed, a type, format, enum, const or constraint changed, a
    field newly required or no longer required, an item or map value type changed. Compatible:
    a new optional field, documentation, ``$defs`` renamed, ``additionalProperties: false`` opened.
    """
    return _Walk(old, new).compare(old, new, "data")


class _Walk:
    def __init__(self, old_root: dict[str, Any], new_root: dict[str, Any]) -> None:
        self.roots = (old_root, new_root)
        self.seen: set[tuple[str, str]] = set()
        """Pairs of ``$ref`` already compared: each once, so recursive models end."""

    def _resolve(self, node: Any, side: int) -> Any:
        hops = 0
        while isinstance(node, dict) and "$ref" in node and hops < 50:
            ref = node["$ref"]
            if not ref.startswith("#/"):
                return node
            target: Any = self.roots[side]
            for part in ref[2:].split("/"):
                target = target.get(part, {}) if isinstance(target, dict) else {}
            node, hops = target, hops + 1
        return node

    def compare(self, old: Any, new: Any, path: str) -> list[str]:
        refs = (old.get("$ref", "") if isinstance(old, dict) else "", new.get("$ref", "") if isinstance(new, dict) else "")
        if refs[0] and refs[1]:
            if refs in self.seen:
                return []
            self.seen.add(refs)
        old, new = self._resolve(old, 0), self._resolve(new, 1)
        if not isinstance(old, dict) or not isinstance(new, dict):
            return [] if old == new else [f"{path}: changed from {old!r} to {new!r}"]
        problems = self._alternatives(old, new, path)
        if problems is not None:
            return problems
        problems = []
        for keyword in sorted((set(old) | set(new)) - _DOCUMENTATION - _STRUCTURE - {"default"}):
            if keyword == "additionalProperties" and not isinstance(old.get(keyword), dict):
                continue
            if old.get(keyword) != new.get(keyword):
                problems.append(f"{path}: {keyword} changed from {old.get(keyword)!r} to {new.get(keyword)!r}")
        problems += self._properties(old, new, path)
        for keyword, suffix in (("items", "[]"), ("propertyNames", "{name}")):
            if keyword in old or keyword in new:
                problems += self.compare(old.get(keyword, {}), new.get(keyword, {}), f"{path}{suffix}")
        if isinstance(old.get("additionalProperties"), dict) or isinstance(new.get("additionalProperties"), dict):
            problems += self.compare(old.get("additionalProperties"), new.get("additionalProperties"), f"{path}{{}}")
        problems += self._keyed("patternProperties", old, new, path)
        problems += self._positional(("prefixItems", "allOf"), old, new, path)
        return problems

    def _properties(self, old: dict[str, Any], new: dict[str, Any], path: str) -> list[str]:
        problems = []
        old_props, new_props = old.get("properties", {}), new.get("properties", {})
        old_required, new_required = set(old.get("required", [])), set(new.get("required", []))
        for name in old_props:
            if name not in new_props:
                problems.append(f"{path}.{name}: removed or renamed")
                continue
            if name in old_required and name not in new_required:
                problems.append(f"{path}.{name}: no longer required (readers rely on it)")
            if name not in old_required and name in new_required:
                problems.append(f"{path}.{name}: newly required (records written before may lack it)")
            problems += self.compare(old_props[name], new_props[name], f"{path}.{name}")
        for name in new_props:
            if name not in old_props and name in new_required:
                problems.append(f"{path}.{name}: added as required (records written before lack it)")
        return problems

    def _keyed(self, keyword: str, old: dict[str, Any], new: dict[str, Any], path: str) -> list[str]:
        olds, news = old.get(keyword, {}), new.get(keyword, {})
        problems = [f"{path}: {keyword} {key!r} removed or changed" for key in olds if key not in news]
        problems += [f"{path}: {keyword} {key!r} added" for key in news if key not in olds]
        for key in (k for k in olds if k in news):
            problems += self.compare(olds[key], news[key], f"{path}{{{key}}}")
        return problems

    def _positional(self, keywords: tuple[str, ...], old: dict[str, Any], new: dict[str, Any], path: str) -> list[str]:
        problems: list[str] = []
        for keyword in keywords:
            olds, news = old.get(keyword, []), new.get(keyword, [])
            if len(olds) != len(news):
                problems.append(f"{path}: {keyword} changed from {len(olds)} to {len(news)} entries")
                continue
            for index, (a, b) in enumerate(zip(olds, news, strict=True)):
                problems += self.compare(a, b, f"{path}<{keyword}{index}>")
        return problems

    def _alternatives(self, old: dict[str, Any], new: dict[str, Any], path: str) -> list[str] | None:
        """anyOf / oneOf: each old alternative has a compatible new one and none is added, in any order; None if neither has any."""
        for keyword in ("anyOf", "oneOf"):
            if keyword in old or keyword in new:
                olds, news = list(old.get(keyword, [old])), list(new.get(keyword, [new]))
                if len(olds) != len(news):
                    return [f"{path}: {keyword} alternatives changed from {len(olds)} to {len(news)}"]
                problems: list[str] = []
                for index, alternative in enumerate(olds):
                    trials = [(self._trial(alternative, candidate, f"{path}<{index}>"), candidate) for candidate in news]
                    fitting = next((candidate for found, candidate in trials if not found), None)
                    if fitting is None:
                        fewest = min((found for found, _ in trials), key=_count)
                        problems.extend(fewest)
                    else:
                        news.remove(fitting)
                return problems
        return None

    def _trial(self, old: Any, new: Any, path: str) -> list[str]:
        """A comparison that leaves no trace in ``seen`` when it fails, so the right pairing is still compared."""
        seen = set(self.seen)
        found = self.compare(old, new, path)
        if found:
            self.seen = seen
        return found


def _count(problems: list[str]) -> int:
    return len(problems)


_STRUCTURE = frozenset(
    {"properties", "required", "items", "anyOf", "oneOf", "$defs", "$ref", "patternProperties", "prefixItems", "allOf", "propertyNames"}
)
