"""What becomes of a message whose send was not confirmed, by kind of message.

A send is unconfirmed when the process died during it, or when the connection broke after
the message was handed over (DATA) and before the server answered. The server may have
queued it or not; nobody can tell from here. Resending risks a duplicate, not resending
risks a loss. Every message carries a deterministic Message-ID (many mail systems drop a
second copy on it), and the policy weighs what a duplicate costs against a loss:

* calendar messages (invitation, update, cancellation, of meetings and of sessions):
  **resend**. The ``.ics`` keeps its UID and SEQUENCE, so a calendar replaces the entry
  instead of adding a second one, and a missing invitation means a missed meeting or session.
* enrollment confirmation, signup rejection, session seat (confirmed, waiting list,
  released): **resend**. A second identical notice is a nuisance; a company never told it
  was accepted, refused or given a seat is a complaint.
* reminders, of meetings and of sessions: **resend**. A stale one (its meeting or session
  moved or cancelled, its seat given up) is dropped anyway as superseded before any send.
* missed orientation session: **resend**. Without it a company learns only from an empty
  agenda that its meetings wait for the session.
* follow-up surveys: **resend**. Answers are keyed by meeting, company and kind, so a
  second link records nothing twice.

``hold`` leaves the decision to an operator (``outgoing mail unconfirmed``); ``drop`` gives up
on the message. Deployments choose per kind with ``OUTGOING_UNCONFIRMED_POLICY``.
"""

from __future__ import annotations

from collections.abc import Iterable

from shared.contracts.notifications import NotificationKind, UnconfirmedPolicy

DEFAULT_POLICY: dict[str, UnconfirmedPolicy] = {
    "meeting_invitation": "resend",
    "meeting_update": "resend",
    "meeting_cancellation": "resend",
    "enrollment_confirmation": "resend",
    "signup_rejection": "resend",
    "reminder": "resend",
    "followup_attendance": "resend",
    "followup_satisfaction": "resend",
    "followup_outcome": "resend",
    "session_invitation": "resend",
    "session_update": "resend",
    "session_cancellation": "resend",
    "session_seat": "resend",
    "session_reminder": "resend",
    "session_missed": "resend",
}


def policy_for(kind: NotificationKind | str, overrides: Iterable[tuple[str, UnconfirmedPolicy]] = ()) -> UnconfirmedPolicy:
    return dict(overrides).get(kind) or DEFAULT_POLICY.get(kind, "hold")
