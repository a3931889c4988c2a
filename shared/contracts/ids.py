"""The ids every contract module names things by."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

CompanyId = Annotated[str, Field(pattern=r"^[a-z0-9-]{8,64}$")]
MeetingId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9:-]{7,140}$")]
