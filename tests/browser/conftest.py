"""Browser tests: Debian's Chromium, headless, driven by Playwright (never a downloaded one).

Without a Chromium they are skipped, saying so at the top of the run and in the summary;
under CI (``TENURE_REQUIRE_BROWSER=1``, which ``.ci/run`` sets) a missing Chromium fails the
run instead.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.support import ROOT

CHROMIUM = os.environ.get("TENURE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
FOUND = Path(CHROMIUM).exists()
REQUIRED = os.environ.get("TENURE_REQUIRE_BROWSER") == "1"
SKIP_REASON = (
    f"no Chromium at {CHROMIUM}: the console's browser tests are skipped"
    " (install Debian's chromium, or set TENURE_CHROMIUM)"
)
# Screenshots of every page, for a reviewer to look at without running anything.
SCREENSHOTS = Path(os.environ.get("TENURE_SCREENSHOTS_DIR", ROOT / ".tenure" / "screenshots"))
# Chromium on a machine whose network is closed: no background fetches, no sandbox as root.
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def pytest_report_header() -> str:
    if FOUND:
        return f"browser tests: Chromium at {CHROMIUM}"
    if REQUIRED:
        return f"browser tests: REQUIRED but {SKIP_REASON}"
    return f"browser tests: SKIPPED, {SKIP_REASON}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if FOUND:
        return
    if REQUIRED:
        raise pytest.UsageError(f"TENURE_REQUIRE_BROWSER=1 but {SKIP_REASON}")
    skip = pytest.mark.skip(reason=SKIP_REASON)
    for item in items:
        if "browser" in Path(str(item.fspath)).parts:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """Debian's Chromium, headless, with the flags this machine needs."""
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "headless": True,
        "args": LAUNCH_ARGS,
    }


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    """A desktop-sized window, so screenshots show the page as a person at a desk sees it."""
    return {**browser_context_args, "viewport": {"width": 1280, "height": 900}}
