"""Every notification outcome carries the CRMs' ids of its company and its meeting, as last known."""

from __future__ import annotations

from datetime import timedelta

from shared.contracts.matching import MeetingScheduled
from shared.contracts.registration import CompanyChange, CompanyUpdated
from tests.mail_factories import LOMBARD, START, T0, meeting, profile
from tests.unit.notifications.test_use_cases import SENT, fire_all, ready


async def test_an_invitation_names_the_company_and_the_meeting_by_the_crms_ids() -> None:
    h = await ready()
    linked = profile(LOMBARD, "lombard", "Rossi Meccanica S.r.l.", external_ids={"reference-crm": "crm-1"})
    change = CompanyChange(profile=linked, changed_fields=["external_ids"])
    await h.notifications.company_changed(CompanyUpdated.new(source="/outgoing/registration", subject=LOMBARD, data=change, time=T0))
    invited = meeting().model_copy(update={"external_ids": {"reference-crm": "crm-meeting-1"}})
    await h.notifications.meeting_scheduled(MeetingScheduled.new(source="/outgoing/matching", subject="india-2020", data=invited, time=T0))
    h.clock.now = START - timedelta(days=3)
    await fire_all(h)
    sent = {e.data.company_id: e.data for e in h.store.events(SENT)}
    assert sent[LOMBARD].external_ids == {"reference-crm": "crm-1"}
    assert all(s.meeting_external_ids == {"reference-crm": "crm-meeting-1"} for s in sent.values()) and len(sent) == 2
    assert [s.external_ids for c, s in sent.items() if c != LOMBARD] == [{}], "the partner was never linked"
