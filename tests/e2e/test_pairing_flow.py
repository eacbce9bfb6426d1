"""The web app's first run with secrets handed over in the address (never sent to a server)."""

from __future__ import annotations

from collections.abc import Callable

from lightbox.edge.pairing import Pairing
from tests.e2e.conftest import App
from tests.e2e.server import LightBoxServer


def test_token_in_the_address_signs_in_and_leaves_no_trace(
    new_app: Callable[..., App], lightbox: LightBoxServer
) -> None:
    app = new_app(sign_in=False)
    page = app.page
    page.goto(f"{lightbox.url}/#token={lightbox.token}")
    app.wait_online()
    assert page.locator("#view-token").is_hidden()
    assert "token" not in page.url, "the secret must not stay in the address bar"
    assert page.evaluate("localStorage.getItem('lightbox.token')") == lightbox.token


def test_pairing_code_from_setup_gives_a_working_token(
    new_app: Callable[..., App], lightbox: LightBoxServer
) -> None:
    service = lightbox.service
    assert service is not None
    code = Pairing(service.store).issue()  # what Bluetooth set-up puts in its URL
    app = new_app(sign_in=False)
    page = app.page
    page.goto(f"{lightbox.url}/#pair={code}")
    app.wait_online()
    assert "pair" not in page.url
    token = page.evaluate("localStorage.getItem('lightbox.token')")
    assert token
    assert token.startswith("lbx_")
    assert service.store.verify_token(token) is not None
    names = [t.name for t in service.store.list_tokens()]
    assert any(n.startswith("web app") for n in names)


def test_a_used_pairing_code_shows_the_servers_error(
    new_app: Callable[..., App], lightbox: LightBoxServer
) -> None:
    app = new_app(sign_in=False)
    page = app.page
    page.goto(f"{lightbox.url}/#pair=ABCD-EFGH")
    error = page.locator("#pair-error")
    error.wait_for()
    page.wait_for_function("document.querySelector('#pair-error').textContent.length > 0")
    assert "code" in error.inner_text().lower()
    assert page.locator("#view-token").is_visible()
