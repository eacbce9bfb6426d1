"""The fleet dashboard, end to end: a real local cloud, a LightBox registered to it, and
headless Chromium. Sign up, claim the LightBox with its code, see it online, control it
through the relay, and check the LightBox's own state changed.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.e2e.cloud_server import CloudServer
from tests.e2e.conftest import TIMEOUT_MS, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.timeout(90)]


def test_sign_up_claim_and_control(cloud: CloudServer, page: Any) -> None:
    email = f"e2e-{uuid.uuid4().hex[:8]}@example.com"
    page.goto(f"{cloud.url}/")
    page.fill("#signup-email", email)
    page.fill("#signup-password", "correct horse battery")
    page.get_by_role("button", name="Create account").click()
    page.wait_for_selector("#view-devices:not([hidden])")
    page.locator("#no-devices").wait_for()

    # a wrong code: the cloud's words next to the field
    page.fill("#claim-code", "AAA-AAA")
    page.get_by_role("button", name="Claim").click()
    page.wait_for_function(
        "[...document.querySelectorAll('#claim-form .error')].some(e => e.textContent.trim())"
    )

    page.fill("#claim-code", cloud.claim_code())
    page.get_by_role("button", name="Claim").click()
    row = page.locator(f"a[data-device='{cloud.device_id}']")
    row.wait_for()
    row.locator(".device-online[data-online='true']").wait_for()
    assert "version" in row.inner_text()
    assert "last seen never" not in row.inner_text()

    row.click()
    page.wait_for_selector("#view-device:not([hidden])")
    page.wait_for_selector("#device-presence[data-online='true']")
    assert page.inner_text("#device-title") == "Client test box"

    # power: the LightBox's own state changes, and the page follows it
    page.locator("#now-showing strong").wait_for()  # the state has arrived through the cloud
    before = cloud.state.power
    page.click("#power")
    wait_until(
        lambda: cloud.state.power is (not before),
        what="the power toggled on the LightBox",
        timeout=10,
    )
    page.wait_for_selector(f"#power[aria-pressed='{str(not before).lower()}']")

    # a scene from the web app's own editors, through the relay
    page.get_by_role("tab", name="Text").click()
    panel = page.get_by_role("tabpanel", name="Text")
    panel.get_by_label("Text", exact=True).fill("Hello from the cloud")
    panel.get_by_role("button", name="Show this text").click()
    wait_until(
        lambda: (
            cloud.state.scene.type == "text"
            and getattr(cloud.state.scene, "text", "") == "Hello from the cloud"
        ),
        what="the text scene on the LightBox",
        timeout=10,
    )
    page.wait_for_selector("#now-showing:has-text('Hello from the cloud')")

    # a change made on the LightBox itself shows up (state polled through the cloud)
    from lightbox.protocol import SetCommand

    service = cloud.stack.runtime.service if cloud.stack else None
    assert service is not None
    cloud.call(lambda: service.execute(SetCommand(brightness=17), origin="test"))
    page.wait_for_function(
        "document.getElementById('brightness').value === '17'", timeout=TIMEOUT_MS
    )
