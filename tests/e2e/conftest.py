"""Fixtures for the end-to-end tests: a real LightBox and headless Chromium (Playwright).

The browser is Debian's Chromium at ``/usr/bin/chromium`` (Playwright never downloads
one here). Without it the browser tests are skipped, with the reason, except under CI
(``CI`` set), where a missing browser is a failure: CI must run them.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.cloud_server import CloudServer
from tests.e2e.server import LightBoxServer

CHROMIUM = Path(os.environ.get("LIGHTBOX_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {"width": 360, "height": 780}
TIMEOUT_MS = 8000


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"browser tests cannot run under CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Chromium for one test module. Not longer: Playwright's sync API keeps an event loop
    running in the main thread while it is open, and asyncio tests after it would fail."""
    if not CHROMIUM.exists():
        _unavailable(f"Chromium not found at {CHROMIUM} (apt install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed (pip install playwright)")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def lightbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LightBoxServer]:
    with LightBoxServer(tmp_path_factory.mktemp("lightbox")) as box:
        yield box


def wait_until(check: Callable[[], Any], timeout: float = 5.0, what: str = "condition") -> Any:
    """Poll ``check`` until it returns something truthy; fail saying ``what`` did not happen."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


class App:
    """One browser tab on the LightBox app, with helpers for the common steps."""

    def __init__(self, page: Any, box: LightBoxServer) -> None:
        self.page = page
        self.box = box
        self.errors: list[str] = []
        page.on("pageerror", lambda err: self.errors.append(str(err)))

    def open(self, *, sign_in: bool = True) -> App:
        self.page.goto(f"{self.box.url}/")
        if sign_in:
            self.page.fill("#token", self.box.token)
            self.page.get_by_role("button", name="Connect").click()
            self.wait_online()
        return self

    def wait_online(self) -> None:
        self.page.wait_for_selector("#connection[data-status='online']", state="attached")

    def goto(self, view: str) -> Any:
        """Open a section from the navigation bar; returns the view's locator."""
        self.page.get_by_role("navigation", name="Sections").get_by_role("link", name=view).click()
        self.page.wait_for_selector(f"#view-{view.lower()}:not([hidden])")
        return self.page.locator(f"#view-{view.lower()}")

    def scene_tab(self, name: str) -> Any:
        self.page.get_by_role("tab", name=name).click()
        return self.page.get_by_role("tabpanel", name=name)


@pytest.fixture
def new_app(browser: Any, lightbox: LightBoxServer) -> Iterator[Callable[..., App]]:
    """``new_app()`` opens a fresh browser context (own storage) on the LightBox."""
    contexts = []
    apps: list[App] = []

    def make(*, service_workers: str = "block", sign_in: bool = True) -> App:
        context = browser.new_context(viewport=PHONE, service_workers=service_workers)
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        app = App(context.new_page(), lightbox)
        apps.append(app)
        return app.open(sign_in=sign_in)

    yield make
    for context in contexts:
        context.close()
    for app in apps:
        assert not app.errors, f"JavaScript errors in the page: {app.errors}"


@pytest.fixture
def app(new_app: Callable[..., App]) -> App:
    """A signed-in app on the main view."""
    return new_app()


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[CloudServer]:
    """A local cloud with a LightBox registered to it (the dashboard tests)."""
    with CloudServer(tmp_path) as server:
        yield server


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A dashboard tab in a fresh context; fails the test on a JavaScript error."""
    # bypass_csp: lets page.wait_for_function evaluate its predicate (the app sets a CSP)
    context = browser.new_context(
        viewport={"width": 1000, "height": PHONE["height"]}, bypass_csp=True
    )
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    yield page
    context.close()
    assert not errors, f"JavaScript errors in the page: {errors}"
