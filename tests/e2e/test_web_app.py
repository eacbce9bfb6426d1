"""The web app, end to end: a real LightBox, headless Chromium, what a user would do.

Each test checks that a click reached the LightBox (``lightbox.state``, the service's own
state) and that what the LightBox pushes back shows in the page.
"""

from __future__ import annotations

import io
import json
import re
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from PIL import Image

from lightbox.edge.api.static import WEB_APP_DIR
from lightbox.protocol.color import RGB
from tests.e2e.conftest import App, wait_until
from tests.e2e.server import LightBoxServer

pytestmark = [pytest.mark.browser, pytest.mark.timeout(60)]


@pytest.fixture
def rest(lightbox: LightBoxServer) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {lightbox.token}"}
    with httpx.Client(base_url=f"{lightbox.url}/api/v1", headers=headers, timeout=10) as client:
        yield client


def chip(root: Any, text: str) -> Any:
    """A radio button shown as a chip (or a weekday), by its exact text."""
    return root.locator("label").filter(has_text=re.compile(f"^{re.escape(text)}$"))


def unique(prefix: str) -> str:
    return f"{prefix} {uuid.uuid4().hex[:6]}"


def set_scene(rest: httpx.Client, scene: dict[str, Any]) -> None:
    response = rest.post("/commands", json={"type": "set", "scene": scene, "power": True})
    assert response.status_code == 200, response.text


def save_preset(rest: httpx.Client, name: str, scene: dict[str, Any]) -> str:
    preset_id = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    response = rest.post("/presets", json={"id": preset_id, "name": name, "scene": scene})
    assert response.status_code == 201, response.text
    return preset_id


# -- signing in ------------------------------------------------------------------------


def test_token_prompt_shows_the_servers_error_then_the_main_view(
    new_app: Callable[..., App], lightbox: LightBoxServer
) -> None:
    app = new_app(sign_in=False)
    page = app.page
    assert page.locator("#view-token").is_visible()
    assert page.locator("#nav").is_hidden()

    page.fill("#token", "lbt_not-a-real-token")
    page.get_by_role("button", name="Connect").click()
    error = page.locator("#token-error")
    error.wait_for()
    assert "not valid" in error.inner_text()  # the LightBox's own words
    assert page.get_attribute("#token", "aria-invalid") == "true"

    page.fill("#token", lightbox.token)
    page.get_by_role("button", name="Connect").click()
    app.wait_online()
    assert page.locator("#view-control").is_visible()
    assert page.locator("#preview").is_visible()
    assert page.inner_text("#device-name") == lightbox.service.settings.name  # type: ignore[union-attr]

    # the token is remembered: a reload goes straight to the main view
    page.reload()
    app.wait_online()
    assert page.locator("#view-token").is_hidden()

    # ... until it is forgotten
    app.goto("Settings")
    page.get_by_role("button", name="Forget token on this device").click()
    page.locator("#view-token").wait_for()
    assert page.evaluate("localStorage.getItem('lightbox.token')") is None


# -- power and brightness --------------------------------------------------------------


def test_power_and_brightness_reach_the_lightbox(app: App, lightbox: LightBoxServer) -> None:
    page = app.page
    power = page.locator("#power")
    before = lightbox.state.power
    power.click()
    wait_until(lambda: lightbox.state.power is (not before), what="power to toggle")
    page.wait_for_selector(f"#power[aria-pressed='{str(not before).lower()}']")
    power.click()
    wait_until(lambda: lightbox.state.power is before, what="power to toggle back")

    page.locator("#brightness").fill("200")
    wait_until(lambda: lightbox.state.brightness == 200, what="brightness 200")


def test_dragging_brightness_is_throttled_and_the_final_value_wins(
    app: App, lightbox: LightBoxServer
) -> None:
    page = app.page
    patches: list[str] = []
    page.on(
        "request",
        lambda r: (
            patches.append(r.post_data or "")
            if r.method == "PATCH" and r.url.endswith("/api/v1/state")
            else None
        ),
    )
    # 60 input events over ~0.6 s, like a finger dragging the slider, then the release.
    elapsed_ms = page.evaluate(
        """async () => {
          const s = document.getElementById('brightness');
          s.dispatchEvent(new PointerEvent('pointerdown'));
          const t0 = performance.now();
          for (let v = 10; v < 70; v++) {
            s.value = v; s.dispatchEvent(new Event('input', {bubbles: true}));
            await new Promise(r => setTimeout(r, 10));
          }
          s.value = 77; s.dispatchEvent(new Event('input', {bubbles: true}));
          s.dispatchEvent(new Event('change', {bubbles: true}));
          return performance.now() - t0;
        }"""
    )
    wait_until(lambda: lightbox.state.brightness == 77, what="the final brightness 77")
    page.wait_for_timeout(300)
    # at most ~10 a second (plus the first and the final one)
    assert 2 <= len(patches) <= elapsed_ms / 100 + 3, patches
    assert json.loads(patches[-1]) == {"brightness": 77}
    assert page.input_value("#brightness") == "77"


# -- scenes ----------------------------------------------------------------------------


def test_effect_with_its_params_is_applied(app: App, lightbox: LightBoxServer) -> None:
    page = app.page
    panel = app.scene_tab("Effects")
    chip(panel, "Spiral").click()
    panel.get_by_label("Arms").fill("5")
    panel.get_by_label("Speed").fill("200")
    panel.get_by_label("Palette").select_option("ocean")
    panel.get_by_role("button", name="Show this effect").click()

    scene = wait_until(
        lambda: (
            lightbox.state.scene
            if lightbox.state.scene.type == "effect" and lightbox.state.scene.effect == "spiral"
            else None
        ),
        what="the spiral effect",
    )
    assert scene.params == {"arms": 5}
    assert scene.speed == 200
    assert scene.palette == "ocean"
    page.wait_for_selector("#now-showing:has-text('Spiral')")

    # a bool parameter: generated as a switch
    chip(panel, "Checker").click()
    trail = panel.get_by_role("switch", name="Rotate")
    assert trail.is_checked()  # the catalogue's default
    trail.uncheck()
    panel.get_by_role("button", name="Show this effect").click()
    wait_until(
        lambda: getattr(lightbox.state.scene, "params", None) == {"rotate": False},
        what="checker with rotate off",
    )


def test_text_scene(app: App, lightbox: LightBoxServer) -> None:
    panel = app.scene_tab("Text")
    panel.get_by_label("Text", exact=True).fill("Hello e2e")
    chip(panel, "Static").click()
    panel.get_by_label("Colour", exact=True).fill("#00ff00")
    panel.get_by_label("Font", exact=True).select_option("5x7")
    panel.get_by_role("button", name="Show this text").click()
    scene = wait_until(
        lambda: lightbox.state.scene if lightbox.state.scene.type == "text" else None,
        what="the text scene",
    )
    assert scene.text == "Hello e2e"
    assert scene.mode == "static"
    assert scene.font == "5x7"
    assert scene.color == RGB(0, 255, 0)
    assert scene.background is None

    # scrolling, right to left is the default; here upwards
    chip(panel, "Scroll").click()
    panel.get_by_label("Direction").select_option("up")
    panel.get_by_role("button", name="Show this text").click()
    wait_until(
        lambda: lightbox.state.scene.type == "text" and lightbox.state.scene.direction == "up",
        what="scrolling up",
    )


def png_bytes(color: tuple[int, int, int], size: tuple[int, int] = (16, 8)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="PNG")
    return out.getvalue()


def test_upload_an_image_and_show_it(app: App, lightbox: LightBoxServer) -> None:
    page = app.page
    panel = app.scene_tab("Image/GIF")
    name = f"e2e-{uuid.uuid4().hex[:6]}.png"

    # a broken file: the server's error shows at the upload field, nothing is added
    panel.get_by_label("Upload an image or GIF").set_input_files(
        files=[{"name": "broken.png", "mimeType": "image/png", "buffer": b"not a png at all"}]
    )
    error = panel.locator("[data-field='file'] .field-error")
    error.wait_for()
    assert error.inner_text().strip()

    panel.get_by_label("Upload an image or GIF").set_input_files(
        files=[{"name": name, "mimeType": "image/png", "buffer": png_bytes((0, 0, 255))}]
    )
    item = panel.get_by_role("radio", name=re.compile(re.escape(name)))
    item.wait_for()
    assert item.is_checked()  # the new upload is chosen
    assert error.inner_text() == ""
    panel.get_by_label("Fit").select_option("cover")
    panel.get_by_role("button", name="Show this image").click()
    scene = wait_until(
        lambda: lightbox.state.scene if lightbox.state.scene.type == "image" else None,
        what="the image scene",
    )
    assert scene.media == name
    assert scene.fit == "cover"
    page.wait_for_selector(f"#now-showing:has-text('{name}')")


def test_live_preview_shows_a_solid_red_scene(app: App, lightbox: LightBoxServer) -> None:
    page = app.page
    panel = app.scene_tab("Solid colour")
    panel.get_by_label("Colour", exact=True).fill("#ff0000")
    panel.get_by_role("button", name="Show this colour").click()
    wait_until(lambda: lightbox.state.scene.type == "solid", what="the solid scene")
    if not lightbox.state.power:
        page.locator("#power").click()
    # the canvas's own pixels: LED dots lit red (not black, not another colour)
    page.wait_for_function(
        """() => {
          const c = document.getElementById('preview');
          const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
          let red = 0, other = 0;
          for (let i = 0; i < d.length; i += 4) {
            if (d[i] > 150 && d[i + 1] < 40 && d[i + 2] < 40) red++;
            else if (d[i + 1] > 60 || d[i + 2] > 60) other++;
          }
          return red > (c.width * c.height) / 10 && other === 0;
        }""",
        timeout=10_000,
    )
    size = page.evaluate(
        "[document.getElementById('preview').width, document.getElementById('preview').height]"
    )
    assert size[0] / size[1] == pytest.approx(32 / 16)  # the matrix's aspect ratio


# -- presets, playlists, schedules -----------------------------------------------------


def test_save_a_preset_and_apply_it(app: App, lightbox: LightBoxServer, rest: httpx.Client) -> None:
    page = app.page
    set_scene(rest, {"type": "solid", "color": "#123456"})
    view = app.goto("Presets")
    name = unique("Deep blue")
    view.get_by_label("Name").fill(name)
    view.get_by_role("button", name="Save preset").click()
    row = page.locator("#preset-list li", has_text=name)
    row.wait_for()
    preset_id = row.get_attribute("data-id")
    stored = rest.get(f"/presets/{preset_id}").json()
    assert stored["scene"] == {"type": "solid", "color": "#123456"}

    set_scene(rest, {"type": "solid", "color": "#ffffff"})
    row.get_by_role("button", name="Apply").click()
    wait_until(lambda: lightbox.state.preset == preset_id, what="the preset to be applied")
    assert lightbox.state.scene.color == RGB(0x12, 0x34, 0x56)
    page.wait_for_selector(f"#preset-list li.active[data-id='{preset_id}']")


def test_create_a_playlist_and_run_it(
    app: App, lightbox: LightBoxServer, rest: httpx.Client
) -> None:
    page = app.page
    first = save_preset(rest, unique("Red"), {"type": "solid", "color": "#ff0000"})
    second = save_preset(rest, unique("Green"), {"type": "solid", "color": "#00ff00"})
    view = app.goto("Playlists")
    name = unique("Party")
    view.get_by_label("Name").fill(name)
    rows = page.locator("#playlist-entries .entry-row")
    rows.nth(0).locator("select").select_option(first)
    rows.nth(0).locator("input").fill("60")
    page.get_by_role("button", name="+ Add preset").click()
    rows.nth(1).locator("select").select_option(second)
    rows.nth(1).locator("input").fill("90")
    page.get_by_role("button", name="Create playlist").click()
    item = page.locator("#playlist-list li", has_text=name)
    item.wait_for()
    playlist_id = item.get_attribute("data-id")
    stored = rest.get(f"/playlists/{playlist_id}").json()
    assert [(e["preset"], e["duration_s"]) for e in stored["entries"]] == [
        (first, 60),
        (second, 90),
    ]

    item.get_by_role("button", name=re.compile("Start")).click()
    wait_until(
        lambda: (
            lightbox.state.playlist is not None and lightbox.state.playlist.playlist == playlist_id
        ),
        what="the playlist to start",
    )
    now = page.locator("#playlist-now")
    now.locator("#playlist-entry", has_text="Red").wait_for()
    now.get_by_role("button", name=re.compile("Next")).click()
    wait_until(lambda: lightbox.state.preset == second, what="the next entry")
    now.locator("#playlist-entry", has_text="Green").wait_for()
    now.get_by_role("button", name=re.compile("Stop")).click()
    wait_until(lambda: lightbox.state.playlist is None, what="the playlist to stop")
    now.get_by_text("No playlist is running").wait_for()


def test_create_a_schedule_enable_and_disable_it(
    app: App, lightbox: LightBoxServer, rest: httpx.Client
) -> None:
    page = app.page
    preset = save_preset(rest, unique("Morning"), {"type": "solid", "color": "#ffaa00"})
    view = app.goto("Schedules")
    name = unique("Wake up")
    form = view.locator("form", has_text="New schedule")
    form.get_by_label("Name").fill(name)
    form.get_by_label("Time", exact=True).fill("06:45")
    form.locator(".weekdays label", has_text="Sa").click()  # weekdays only
    form.locator(".weekdays label", has_text="Su").click()
    form.get_by_label("Do").select_option("preset.apply")
    form.get_by_label("Preset").select_option(preset)
    form.get_by_role("button", name="Create schedule").click()
    row = page.locator("#schedule-list li", has_text=name)
    row.wait_for()
    assert "at 06:45, weekdays" in row.inner_text()
    schedule_id = row.get_attribute("data-id")
    stored = rest.get(f"/schedules/{schedule_id}").json()
    assert stored["trigger"] == {"type": "time", "at": "06:45"}
    assert stored["days"] == ["mon", "tue", "wed", "thu", "fri"]
    assert (stored["action"]["type"], stored["action"]["preset"]) == ("preset.apply", preset)

    row.get_by_role("switch").uncheck()
    wait_until(
        lambda: rest.get(f"/schedules/{schedule_id}").json()["enabled"] is False,
        what="the schedule to be disabled",
    )

    # sunset with an offset, switching the matrix off
    form.get_by_label("Name").fill(unique("Night"))
    chip(form, "Sunset").click()
    form.get_by_label("Offset (minutes; negative: before)").fill("-15")
    form.get_by_label("Do").select_option("power.off")
    form.get_by_role("button", name="Create schedule").click()
    # the LightBox has no location yet: its error shows in the form
    form.locator(".form-error, .field-error").filter(has_text=re.compile(r"\S")).first.wait_for()


def test_settings_show_validation_errors_at_the_field(app: App, lightbox: LightBoxServer) -> None:
    page = app.page
    service = lightbox.service
    assert service is not None
    fps_before = service.settings.output.fps
    view = app.goto("Settings")
    view.get_by_label("Frames per second").fill("500")
    view.get_by_role("button", name="Save settings").click()
    error = page.locator("[data-field='output.fps'] .field-error")
    error.wait_for()
    assert "240" in error.inner_text()  # the server's message: less than or equal to 240
    assert view.get_by_label("Frames per second").get_attribute("aria-invalid") == "true"
    assert service.settings.output.fps == fps_before  # nothing changed

    view.get_by_label("Frames per second").fill(str(fps_before))
    new_name = unique("Hall")
    view.locator("#settings-form").get_by_label("Name", exact=True).fill(new_name)
    view.get_by_role("button", name="Save settings").click()
    wait_until(lambda: service.settings.name == new_name, what="the new name")
    page.wait_for_selector(f"#device-name:has-text('{new_name}')")
    assert error.inner_text() == ""


def test_tokens_can_be_created_and_revoked(app: App, rest: httpx.Client) -> None:
    page = app.page
    app.goto("Settings")
    page.get_by_label("New token for").fill("e2e tablet")
    page.get_by_role("button", name="Create token").click()
    secret = page.locator("#token-secret").inner_text()
    assert secret
    ok = rest.get("/state", headers={"Authorization": f"Bearer {secret}"})
    assert ok.status_code == 200
    row = page.locator("#token-list li", has_text="e2e tablet").first
    row.get_by_role("button", name="Revoke").click()
    page.locator("#confirm").get_by_role("button", name="Revoke").click()
    row.wait_for(state="detached")
    revoked = rest.get("/state", headers={"Authorization": f"Bearer {secret}"})
    assert revoked.status_code == 401


# -- two browsers ----------------------------------------------------------------------


def test_two_browsers_stay_in_sync(
    new_app: Callable[..., App], lightbox: LightBoxServer, rest: httpx.Client
) -> None:
    one, two = new_app(), new_app()
    power = lightbox.state.power
    one.page.locator("#power").click()
    two.page.wait_for_selector(f"#power[aria-pressed='{str(not power).lower()}']")
    one.page.locator("#power").click()
    two.page.wait_for_selector(f"#power[aria-pressed='{str(power).lower()}']")

    one.page.locator("#brightness").fill("33")
    wait_until(lambda: two.page.input_value("#brightness") == "33", what="page two's brightness")

    # a change from elsewhere (REST) shows in both, and a new preset appears in both lists
    set_scene(rest, {"type": "clock", "format": "12h"})
    for app in (one, two):
        app.page.wait_for_selector("#now-showing:has-text('Clock (12h)')")
    name = unique("Shared")
    save_preset(rest, name, {"type": "solid", "color": "#00ffff"})
    for app in (one, two):
        app.goto("Presets")
        app.page.locator("#preset-list li", has_text=name).wait_for()


# -- the PWA ---------------------------------------------------------------------------


def test_app_files_are_served_with_the_right_types(lightbox: LightBoxServer) -> None:
    with httpx.Client(base_url=lightbox.url, timeout=5) as http:
        index = http.get("/")
        assert index.status_code == 200
        assert index.headers["content-type"].startswith("text/html")
        assert "script-src 'self'" in index.headers["content-security-policy"]
        assert http.get("/index.html").content == index.content

        manifest = http.get("/manifest.webmanifest")
        assert manifest.headers["content-type"] == "application/manifest+json"
        icons = {icon["sizes"]: icon for icon in manifest.json()["icons"]}
        for size in ("192x192", "512x512"):
            png = http.get(f"/{icons[size]['src']}")
            assert png.headers["content-type"] == "image/png"
            width, height = Image.open(io.BytesIO(png.content)).size
            assert f"{width}x{height}" == size

        sw = http.get("/sw.js")
        assert sw.headers["content-type"].startswith("text/javascript")
        assert "no-cache" in sw.headers["cache-control"]
        assert http.get("/js/app.js").headers["content-type"].startswith("text/javascript")
        assert http.get("/css/app.css").headers["content-type"].startswith("text/css")
        assert http.get("/icons/icon.svg").headers["content-type"] == "image/svg+xml"

        # revalidation is cheap; the API is not shadowed by the app
        again = http.get("/sw.js", headers={"If-None-Match": sw.headers["etag"]})
        assert again.status_code == 304
        assert http.get("/api/v1/info").json()["width"] == 32


def test_the_service_worker_lists_every_app_file() -> None:
    source = (WEB_APP_DIR / "sw.js").read_text(encoding="utf-8")
    listed = set(re.findall(r'^\s+"([^"]+)",$', source, flags=re.MULTILINE)) - {"./"}
    files = {
        p.relative_to(WEB_APP_DIR).as_posix()
        for p in WEB_APP_DIR.rglob("*")
        if p.is_file() and p.name != "sw.js"
    }
    assert listed == files


def test_service_worker_caches_the_shell_but_not_the_api(
    new_app: Callable[..., App],
) -> None:
    app = new_app(service_workers="allow")
    page = app.page
    assert page.evaluate("navigator.serviceWorker.ready.then(r => r.active.state)") in (
        "activating",
        "activated",
    )
    cached = page.evaluate(
        """async () => {
          const keys = await caches.keys();
          const cache = await caches.open(keys.find(k => k.startsWith('lightbox-')));
          return (await cache.keys()).map(r => new URL(r.url).pathname);
        }"""
    )
    assert {"/", "/index.html", "/js/app.js", "/manifest.webmanifest"} <= set(cached)
    assert not [path for path in cached if path.startswith("/api/")]


def test_the_socket_reconnects_after_a_drop(app: App, lightbox: LightBoxServer) -> None:
    page = app.page
    # keep a handle on the page's sockets, to drop them as a flaky Wi-Fi would, and a log
    # of what the connection indicator said
    page.add_init_script(
        """(() => {
          const Native = window.WebSocket;
          window.__sockets = [];
          window.WebSocket = class extends Native {
            constructor(...args) { super(...args); window.__sockets.push(this); }
          };
          window.__statuses = [];
          addEventListener('DOMContentLoaded', () => {
            const box = document.getElementById('connection');
            new MutationObserver(() => window.__statuses.push(box.innerText))
              .observe(box, {subtree: true, childList: true, characterData: true});
          });
        })()"""
    )
    page.reload()
    app.wait_online()
    page.evaluate("window.__statuses.length = 0; window.__sockets.forEach(s => s.close())")
    page.wait_for_function("() => window.__sockets.length >= 2")  # it connected again
    app.wait_online()
    statuses = page.evaluate("window.__statuses")
    assert any(s.startswith("Offline, retrying in") for s in statuses), statuses
    # and it is live again, both ways
    page.locator("#brightness").fill("90")
    wait_until(lambda: lightbox.state.brightness == 90, what="brightness after reconnecting")
    page.wait_for_timeout(300)  # the slider's last update has gone
    lightbox.call(lightbox.service.execute, _set_brightness(91))  # type: ignore[union-attr]
    page.wait_for_function("() => document.getElementById('brightness').value === '91'")


def _set_brightness(value: int) -> Any:
    from lightbox.protocol import SetCommand

    return SetCommand(brightness=value)
