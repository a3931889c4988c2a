"""Video rooms and survey tokens: stable under one key, unguessable without it."""

from __future__ import annotations

from uuid import NAMESPACE_URL, uuid5

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from shared.links import LinkKeys, MissingLinkSecret, link_keys
from shared.settings import Settings

KEY = LinkKeys(b"a-secret-of-the-agency")
OTHER = LinkKeys(b"a-secret-of-someone-else")
ids = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789:-", min_size=8, max_size=60)
kinds = st.sampled_from(["attendance", "satisfaction", "outcome"])


@given(ids)
def test_a_room_is_stable_under_its_key_and_another_without_it(meeting_id: str) -> None:
    room = KEY.room_id(meeting_id)
    assert room == KEY.room_id(meeting_id) and len(room) == 32 and int(room, 16) >= 0
    assert room != OTHER.room_id(meeting_id)
    assert room != uuid5(NAMESPACE_URL, f"outgoing-room:{meeting_id}").hex[:16], "not the old room, derived from public ids"


@given(ids, ids, kinds)
def test_a_survey_token_opens_its_own_survey_only(meeting_id: str, company_id: str, kind: str) -> None:
    token = KEY.survey_token(meeting_id, company_id, kind)
    assert KEY.valid_survey_token(token, meeting_id, company_id, kind)
    assert not OTHER.valid_survey_token(token, meeting_id, company_id, kind)
    assert not KEY.valid_survey_token(None, meeting_id, company_id, kind)
    assert not KEY.valid_survey_token(token, meeting_id, company_id + "x", kind)
    assert not KEY.valid_survey_token(token, meeting_id + "x", company_id, kind)
    other_kind = "outcome" if kind != "outcome" else "attendance"
    assert not KEY.valid_survey_token(token, meeting_id, company_id, other_kind)
    assert len(token) == 22 and token.replace("-", "").replace("_", "").isalnum()


def test_the_parts_cannot_be_shifted_into_each_other() -> None:
    assert KEY.survey_token("meeting-1", "company-a", "outcome") != KEY.survey_token("meeting-1company-a", "", "outcome")


def test_the_secret_is_required_long_enough_and_never_shown() -> None:
    with pytest.raises(MissingLinkSecret, match="OUTGOING_LINK_SECRET is not set"):
        link_keys(Settings(link_secret=None))
    with pytest.raises(MissingLinkSecret, match="at least 16 bytes"):
        LinkKeys(b"short")
    settings = Settings(link_secret=SecretStr("a-secret-of-the-agency"))
    assert "a-secret-of-the-agency" not in repr(settings) + repr(link_keys(settings)) + settings.model_dump_json()
    assert link_keys(settings).room_id("m") == KEY.room_id("m")


@pytest.mark.parametrize("service", ["matching", "notifications"])
def test_the_services_that_make_or_check_links_refuse_to_start_without_the_secret(service: str) -> None:
    from importlib import import_module

    create_app = import_module(f"services.{service}.app").create_app
    with pytest.raises(MissingLinkSecret, match="OUTGOING_LINK_SECRET"):
        create_app(Settings(link_secret=None), configure_logs=False)
