"""Take the web app's screenshot for the user guide (docs/img/web-app.png).

Starts a LightBox like the end-to-end tests do, shows a plasma, opens the app as a phone
would, and saves two views (control and presets) side by side::

    .venv/bin/python -m tests.e2e.screenshot [output.png]
"""

from __future__ import annotations

import io
import sys
import tempfile
import time
from pathlib import Path

import httpx
from PIL import Image
from playwright.sync_api import sync_playwright

from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.e2e.server import LightBoxServer

OUT = Path(__file__).resolve().parents[2] / "docs" / "img" / "web-app.png"
PHONE = {"width": 390, "height": 844}
GAP = 24


def main(out: Path = OUT) -> None:
    with (
        tempfile.TemporaryDirectory() as tmp,
        LightBoxServer(Path(tmp), width=64, height=32, name="Living room") as box,
    ):
        headers = {"Authorization": f"Bearer {box.token}"}
        with httpx.Client(base_url=f"{box.url}/api/v1", headers=headers) as rest:
            rest.post(
                "/commands",
                json={
                    "type": "set",
                    "brightness": 190,
                    "scene": {"type": "effect", "effect": "plasma", "palette": "party"},
                },
            ).raise_for_status()
            for pid, name, scene in (
                ("evening-glow", "Evening glow", {"type": "effect", "effect": "aurora"}),
                ("hello", "Hello sign", {"type": "text", "text": "Hello!", "color": "#ffb000"}),
                ("kitchen-clock", "Kitchen clock", {"type": "clock", "format": "24h"}),
            ):
                rest.post("/presets", json={"id": pid, "name": name, "scene": scene})
        shots = []
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            context = browser.new_context(
                viewport=PHONE, device_scale_factor=2, service_workers="block"
            )
            page = context.new_page()
            page.goto(f"{box.url}/")
            page.fill("#token", box.token)
            page.get_by_role("button", name="Connect").click()
            page.wait_for_selector("#connection[data-status='online']", state="attached")
            time.sleep(1.5)  # a few preview frames
            shots.append(page.screenshot())
            page.get_by_role("link", name="Presets").click()
            page.wait_for_selector("#preset-list li[data-id='hello']")
            time.sleep(0.3)
            shots.append(page.screenshot())
            browser.close()
    images = [Image.open(io.BytesIO(s)).convert("RGB") for s in shots]
    width = sum(i.width for i in images) + GAP * (len(images) + 1)
    height = max(i.height for i in images) + GAP * 2
    sheet = Image.new("RGB", (width, height), (5, 6, 9))
    x = GAP
    for image in images:
        sheet.paste(image, (x, GAP))
        x += image.width + GAP
    sheet = sheet.resize((sheet.width // 2, sheet.height // 2), Image.Resampling.LANCZOS)
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out, optimize=True)
    print(f"saved {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT)
