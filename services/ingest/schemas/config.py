"""The event map's bodies."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from shared.validation import Text


class EventMapDocument(BaseModel):
    """Which event names count as what."""

    model_config = ConfigDict(extra="forbid")

    logins: list[Text] = Field(default_factory=list, max_length=1000)
    key_actions: list[Text] = Field(default_factory=list, max_length=1000)
    core_features: dict[Text, Text] = Field(
        default_factory=dict, description="event name -> feature it shows use of"
    )
    integrations: list[Text] = Field(default_factory=list, max_length=1000)
    api_calls: list[Text] = Field(default_factory=list, max_length=1000)
    exports: list[Text] = Field(default_factory=list, max_length=1000)


class EventMapOut(EventMapDocument):
    """The event map in force."""

    model_config = ConfigDict(extra="ignore")

    version: int
    created_at: datetime | None
    created_by: str
