"""One chromium and one page on the session's ComfyUI server for every browser test; a screenshot of the page
goes to browser-screenshots/ (git-ignored) when a test fails."""
from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass, field

import pytest

os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")  # never fetch a browser: Debian's chromium runs
from playwright.sync_api import Page, sync_playwright  # noqa: E402
from playwright.sync_api import TimeoutError as PlaywrightTimeout  # noqa: E402

from .frontend_page import CHROMIUM_ARGS, close_dialogs, find_chromium, wait_for_app  # noqa: E402
from rectiflow.testing.comfy_host import REPO  # noqa: E402

SCREENSHOTS = REPO / "browser-screenshots"
VIEWPORT = {"width": 1600, "height": 1000}
FIRST_DIALOG_MS = 20_000


@dataclass
class BrowserPage:
    """The shared page and everything its console and uncaught errors said, in order."""
    page: Page
    console: list[str] = field(default_factory=list)

    def errors_since(self, start: int, pattern: re.Pattern[str]) -> list[str]:
        return [line for line in self.console[start:] if line.startswith(("error:", "pageerror:"))
                and pattern.search(line)]


@pytest.fixture(scope="session")
def chromium() -> str:
    path = find_chromium()
    if path is None:
        pytest.skip("Debian's chromium is not installed and scripts/setup.sh could not install it "
                    "(needs root and apt-get); set RECTIFLOW_CHROMIUM to a chromium binary")
    return path


@pytest.fixture(scope="session")
def frontend(server, chromium) -> BrowserPage:
    """The ComfyUI frontend the server serves, loaded once, with the first-visit dialogs closed."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport=VIEWPORT)
            shared = BrowserPage(page)
            page.on("console", lambda message: shared.console.append(f"{message.type}: {message.text}"))
            page.on("pageerror", lambda error: shared.console.append(f"pageerror: {error}"))
            page.goto(server)
            wait_for_app(page)
            with contextlib.suppress(PlaywrightTimeout):  # the first visit opens the templates dialog, late
                page.locator(".workflow-template-selector-dialog").wait_for(timeout=FIRST_DIALOG_MS)
            close_dialogs(page)
            yield shared
        finally:
            browser.close()


@pytest.fixture
def page(frontend) -> Page:
    """The shared page with no dialog open; remembered for a screenshot if the test fails."""
    close_dialogs(frontend.page)
    return frontend.page


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    shared = item.funcargs.get("frontend") if hasattr(item, "funcargs") else None
    if report.when == "call" and report.failed and shared is not None:
        SCREENSHOTS.mkdir(exist_ok=True)
        path = SCREENSHOTS / (re.sub(r"[^\w.-]+", "_", item.name) + ".png")
        try:
            shared.page.screenshot(path=str(path))
            report.sections.append(("browser screenshot", str(path)))
        except Exception as exc:  # a crashed page must not hide the test's own failure
            report.sections.append(("browser screenshot", f"none: {exc}"))
    return report
