"""The message a plan becomes: read models gathered, language chosen, templates rendered.

Composing reads only; it decides nothing about the delivery. What it cannot do yet (no
contact, the partner unknown) it reports as ``Missing``, and what it can never do as
``Undeliverable``; the use case chooses between waiting and failing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import parseaddr
from typing import Any, Literal

from services.notifications.domain.content import calendar_description, partner_of, template_context
from services.notifications.domain.ics import CalendarEntry, build_calendar
from services.notifications.domain.language import choose_language
from services.notifications.domain.message import Attachment, build_message
from services.notifications.domain.plans import Plan, survey_link
from services.notifications.domain.safety import InvalidContent, InvalidRecipient, recipient
from services.notifications.domain.session_content import session_context, session_entry
from services.notifications.domain.sessions import CALENDAR_KINDS as SESSION_CALENDAR_KINDS
from services.notifications.domain.sessions import SESSION_KINDS
from services.notifications.rendering import Renderer
from services.notifications.store import NotificationStore
from shared.links import LinkKeys
from shared.timers import Clock

CALENDAR_KINDS = frozenset({"meeting_invitation", "meeting_update", "meeting_cancellation"})


class Undeliverable(Exception):
    def __init__(self, reason: Literal["invalid_recipient", "invalid_content", "no_contact"], detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail[:1000]


class Missing(Exception):
    """What the message still needs (``contact``, ``partner``): it may arrive later."""

    def __init__(self, what: list[str]) -> None:
        super().__init__(", ".join(what))
        self.what = what


@dataclass(frozen=True)
class Composed:
    message: EmailMessage
    language: Literal["it", "en"]
    address: str


@dataclass
class Composer:
    store: NotificationStore
    renderer: Renderer
    sender: str
    survey_base_url: str
    clock: Clock
    links: LinkKeys

    def survey_url(self, meeting_id: str, company_id: str, kind: str) -> str:
        return survey_link(self.survey_base_url, meeting_id, company_id, kind, self.links.survey_token(meeting_id, company_id, kind))

    async def compose(self, plan: Plan, company: dict[str, Any] | None, *, wait_for_partner: bool) -> Composed:
        """``company``: what the store holds of the recipient's company, which the caller has read already."""
        if await self.store.erased_and_gone(plan.company_id):
            raise Undeliverable("no_contact", "the company was erased")
        contact = await self.store.contact(plan.company_id)
        partner_id = partner_of(plan.details.get("meeting") or plan.details.get("followup") or {}, plan.company_id)
        partner = await self.store.company(partner_id) if partner_id else None
        partner_known = partner is not None or not partner_id or await self.store.erased_at(partner_id) is not None
        missing = [what for what, ok in (("contact", contact is not None), ("partner", partner_known or not wait_for_partner)) if not ok]
        if missing:
            raise Missing(missing)
        assert contact is not None
        language = choose_language(
            contact.get("contact_language"),
            contact.get("language") or plan.details.get("language"),
            (company or {}).get("preferred_language"),
            (company or {}).get("role") or plan.details.get("role"),
        )
        mission = await self.store.mission(plan.mission_id)
        try:
            to = recipient(contact["email"], contact["name"])
        except (InvalidRecipient, InvalidContent) as error:
            raise Undeliverable("invalid_recipient", str(error)) from None
        try:
            context = template_context(plan, language, contact["name"], company, partner, mission, self.survey_url)
            if plan.kind in SESSION_KINDS:
                context |= session_context(plan, language, company, await self._missions(plan))
            rendered = self.renderer.render(plan.kind, language, context)
            sender = _address(self.sender)
            message = build_message(
                plan.notification_id, sender, to, rendered, language, self.clock(), _calendar(plan, context, sender, to)
            )
        except (InvalidContent, ValueError) as error:
            raise Undeliverable("invalid_content", str(error)) from None
        return Composed(message, language, contact["email"])

    async def _missions(self, plan: Plan) -> dict[str, Any]:
        """The missions waiting for a session, by id, to name them."""
        return {mission_id: await self.store.mission(mission_id) for mission_id in plan.details.get("required_by", [])}


def _calendar(plan: Plan, context: dict[str, Any], sender: Address, to: Address) -> Attachment | None:
    if plan.kind in SESSION_CALENDAR_KINDS:
        session = session_entry(plan, context, sender, to)
        return Attachment(build_calendar(session), session.method)
    if plan.kind not in CALENDAR_KINDS:
        return None
    meeting = plan.details["meeting"]
    method = "CANCEL" if plan.kind == "meeting_cancellation" else "REQUEST"
    entry = CalendarEntry(
        meeting_id=meeting["meeting_id"],
        sequence=meeting["sequence"],
        start=datetime.fromisoformat(meeting["start"]),
        end=datetime.fromisoformat(meeting["end"]),
        summary=context["summary"],
        description=calendar_description(context),
        video_url=context["video_url"],
        organizer=sender,
        attendee=to,
        stamp=plan.due_at,
        method=method,
    )
    return Attachment(build_calendar(entry), method)


def _address(value: str) -> Address:
    name, addr = parseaddr(value)
    local, _, domain = addr.rpartition("@")
    return Address(display_name=name, username=local, domain=domain)
