"""The console's settings."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from shared.settings import CONSOLE, ServiceSettings


class ConsoleSettings(ServiceSettings):
    """Environment: ``TENURE_*`` (see ServiceSettings) plus the console's own below.

    The console calls the four services with the signed-in person's own key, never one of
    its own: ``service_api_key`` is unused here.
    """

    service_name: ClassVar[str] = CONSOLE

    # How long a sign-in lasts: the person's key expires then (the key store refuses more
    # than 12 hours).
    session_hours: float = Field(default=8.0, gt=0, le=12)
    # Mark cookies Secure: set when the console is served over https.
    secure_cookies: bool = False
    # Failed sign-ins allowed per name, and per client address, within the window.
    sign_in_failures_allowed: int = Field(default=5, ge=1)
    sign_in_window_seconds: float = Field(default=300.0, gt=0)
    # How long the console waits for a service before its panel says it is not answering.
    api_timeout_seconds: float = Field(default=5.0, gt=0)
