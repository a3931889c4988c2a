"""An operator's decision against the rules, kept with what it changed."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Literal

from shared.contracts import registration as events


@dataclass(frozen=True)
class Override:
    """An operator's decision against the rules: who, why, when, and by which event."""

    action: Literal["approved", "rejected"]
    operator: str
    reason: str
    at: datetime
    event_id: str
    signup_id: str | None = None

    @classmethod
    def of(cls, order: events.SignupApprovedByOperator | events.SignupRejectedByOperator) -> Override:
        approved = isinstance(order, events.SignupApprovedByOperator)
        return cls(
            action="approved" if approved else "rejected",
            operator=order.data.operator,
            reason=order.data.reason,
            at=order.time,
            event_id=str(order.id),
            signup_id=str(order.data.signup_id) if isinstance(order, events.SignupApprovedByOperator) else None,
        )

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}
