"""A real headless Chromium (Debian's `chromium`, driven by playwright) opening the console.

One browser per session; each test gets a fresh context (no shared storage) and a page whose
console errors and uncaught exceptions fail the test. A test that provokes an error status on
purpose (415, 401) names it with ``console_page.expect_status``: Chromium reports every 4xx
answer as a console error, and only those named are forgiven.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Locator, Page, Playwright, expect, sync_playwright

# Debian's /usr/bin/chromium is a wrapper script; playwright launches the binary itself.
CHROMIUM_CANDIDATES = ("/usr/lib/chromium/chromium", "chromium", "chromium-browser")
_STATUS_REPORT = re.compile(r"Failed to load resource: the server responded with a status of (\d{3})")
# An assertion waits as long as an action does (the pages' default is 30 s): on 2 loaded cores
# an upload or a step's status can take longer than playwright's 5 s to show.
expect.set_options(timeout=30_000)


def chromium_path() -> str:
    for candidate in CHROMIUM_CANDIDATES:
        found = shutil.which(candidate)
        if found:
            return found
    raise RuntimeError("Chromium not found: install Debian's chromium package (hack/setup.sh does)")


# Package scope: playwright's sync API keeps an event loop running in the main thread while it
# is open, and tests elsewhere start loops of their own with asyncio.run.
@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(
        executable_path=chromium_path(), args=["--autoplay-policy=no-user-gesture-required"]
    )
    yield browser
    browser.close()


class ConsolePage:
    """A page plus what its console said."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.errors: list[str] = []
        self.expected: set[int] = set()
        self.requests: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.errors.append(f"uncaught: {exc}"))
        page.on("request", lambda request: self.requests.append(request.url))

    def _console(self, message: ConsoleMessage) -> None:
        kind, text = message.type, message.text
        if kind not in ("error", "warning"):
            return
        status = _STATUS_REPORT.search(text)
        if status and int(status[1]) in self.expected:
            return
        self.errors.append(f"{kind}: {text}")

    def expect_status(self, status: int) -> None:
        self.expected.add(status)


@pytest.fixture
def console_page(browser: Browser) -> Iterator[ConsolePage]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    wrapped = ConsolePage(page)
    yield wrapped
    context.close()
    assert wrapped.errors == [], "the console reported errors"


def screenshot(target: Page | Locator, name: str) -> None:
    """A page (whole) or one part of it, into SOVITS_CONSOLE_SCREENSHOTS when that is set
    (hack/console-screenshots.sh sets docs/console)."""
    folder = os.environ.get("SOVITS_CONSOLE_SCREENSHOTS")
    if not folder:
        return
    Path(folder).mkdir(parents=True, exist_ok=True)
    path = str(Path(folder) / f"{name}.png")
    if isinstance(target, Page):
        target.screenshot(path=path, full_page=True)
    else:
        target.screenshot(path=path)
