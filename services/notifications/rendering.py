"""Jinja2 templates: the built-in ones, each overridable from ``template_dir``.

Per kind and language there are two templates: ``<lang>/<kind>.txt.j2`` with a
``subject`` and a ``body`` block (plain text, no escaping) and ``<lang>/<kind>.html.j2``
(autoescaped: a company called ``<script>`` shows as text, never runs). A file of the
same name in ``template_dir`` wins over the built-in one (ChoiceLoader).
"""

from __future__ import annotations

from typing import Any

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PackageLoader, StrictUndefined, Template

from services.notifications.domain.message import Rendered


def _html(name: str | None) -> bool:
    return name is not None and name.endswith((".html.j2", ".html"))


class Renderer:
    def __init__(self, template_dir: str | None = None) -> None:
        loaders = [FileSystemLoader(template_dir)] if template_dir else []
        loaders.append(PackageLoader("services.notifications", "templates"))
        self.env = Environment(loader=ChoiceLoader(loaders), autoescape=_html, undefined=StrictUndefined, keep_trailing_newline=True)

    def render(self, kind: str, language: str, context: dict[str, Any]) -> Rendered:
        text = self.env.get_template(f"{language}/{kind}.txt.j2")
        html = self.env.get_template(f"{language}/{kind}.html.j2")
        return Rendered(
            subject=_block(text, "subject", context).strip(), text=_block(text, "body", context).lstrip("\n"), html=html.render(context)
        )


def _block(template: Template, name: str, context: dict[str, Any]) -> str:
    return "".join(template.blocks[name](template.new_context(context)))
