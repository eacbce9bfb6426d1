"""The dashboard's fleet parts, end to end (a real local cloud, a registered LightBox,
headless Chromium): the fleet summary, a device's last sync and telemetry charts, and
releases and rollouts for admins only (widened from the page, checked in the API's data).

Telemetry, releases and rollouts are seeded straight into the cloud's database (a
minute-by-minute hour of samples would take an hour; a signed artifact is not the point).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from lightbox.cloud.db.models import DeviceGroup, Release, Rollout, Telemetry, User
from tests.e2e.cloud_server import CloudServer

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.timeout(60)]

PASSWORD = "correct horse battery"
SYNC_TIMEOUT_MS = 15_000


def sign_up(page: Any, cloud: CloudServer, *, navigate: bool = True) -> str:
    email = f"e2e-{uuid.uuid4().hex[:8]}@example.com"
    if navigate:
        page.goto(f"{cloud.url}/")
    page.wait_for_selector("#view-auth:not([hidden])")
    page.fill("#signup-email", email)
    page.fill("#signup-password", PASSWORD)
    page.get_by_role("button", name="Create account").click()
    try:
        page.wait_for_selector("#view-devices:not([hidden])")
    except Exception as err:
        problem = page.locator("#signup-form .error").all_inner_texts()
        raise AssertionError(f"sign-up failed: {problem!r}; url {page.url}") from err
    return email


def claim(page: Any, cloud: CloudServer) -> None:
    page.fill("#claim-code", cloud.claim_code())
    page.get_by_role("button", name="Claim").click()
    page.locator(
        f"a[data-device='{cloud.device_id}'] .device-online[data-online='true']"
    ).wait_for()


def seed_telemetry(cloud: CloudServer, minutes: int = 30) -> None:
    assert cloud.stack is not None
    sessionmaker = cloud.stack.services.sessionmaker
    now = datetime.now(UTC).replace(second=0, microsecond=0)

    async def work() -> None:
        async with sessionmaker() as session:
            for i in range(minutes):
                session.add(
                    Telemetry(
                        device_id=cloud.device_id,
                        at=now - timedelta(minutes=minutes - i),
                        fields={
                            "uptime_s": 60.0 * i,
                            "fps": 28.0 + i % 3,
                            "target_fps": 30.0,
                            "dropped_frames": 2.0 * i,
                            "estimated_ma": 900.0 + 10 * i,
                            "power_limited": 0.0,
                            "commands": float(i),
                            "errors": float(i // 10),
                        },
                    )
                )
            await session.commit()

    cloud.call(work)


def set_admin(cloud: CloudServer, email: str) -> None:
    assert cloud.stack is not None
    sessionmaker = cloud.stack.services.sessionmaker

    async def work() -> None:
        async with sessionmaker() as session:
            await session.execute(update(User).where(User.email == email).values(is_admin=True))
            await session.commit()

    cloud.call(work)


def seed_rollout(cloud: CloudServer) -> uuid.UUID:
    """A release and a rollout of it to an empty group: nothing is offered to the LightBox."""
    assert cloud.stack is not None
    sessionmaker = cloud.stack.services.sessionmaker
    now = datetime.now(UTC)

    async def work() -> uuid.UUID:
        async with sessionmaker() as session:
            release = Release(
                version="9.9.0",
                channel="beta",
                hardware=["any"],
                size=3 * 1024 * 1024,
                sha256="0" * 64,
                storage_key="releases/9.9.0/lightbox-9.9.0.lbx",
                manifest={},
                key_id="e2e",
                created_at=now,
            )
            group = DeviceGroup(name="e2e-empty", created_at=now)
            session.add_all([release, group])
            await session.flush()
            rollout = Rollout(
                release_id=release.id,
                group_id=group.id,
                percentage=10,
                steps=[10, 50, 100],
                failure_threshold=0.2,
                min_sample=5,
                state="active",
                created_at=now,
                updated_at=now,
            )
            session.add(rollout)
            await session.commit()
            return rollout.id

    return cloud.call(work)


def rollout_percentage(cloud: CloudServer, rollout_id: uuid.UUID) -> int:
    assert cloud.stack is not None
    sessionmaker = cloud.stack.services.sessionmaker

    async def work() -> int:
        async with sessionmaker() as session:
            return (
                await session.scalars(select(Rollout.percentage).where(Rollout.id == rollout_id))
            ).one()

    return cloud.call(work)


def test_fleet_summary_last_sync_and_telemetry_charts(cloud: CloudServer, page: Any) -> None:
    sign_up(page, cloud)
    claim(page, cloud)
    page.wait_for_selector("#fleet-online:has-text('1 of 1')")
    assert page.inner_text("#fleet-versions").strip() not in ("", "–")

    seed_telemetry(cloud)
    # a change on the LightBox, sent at once: the cloud records a sync
    from lightbox.protocol import SetCommand

    runtime = cloud.stack.runtime if cloud.stack else None
    assert runtime is not None and runtime.service is not None
    service = runtime.service
    cloud.call(lambda: service.execute(SetCommand(brightness=33), origin="test"))

    page.locator(f"a[data-device='{cloud.device_id}']").click()
    page.wait_for_selector("#view-device:not([hidden])")
    page.wait_for_selector("#last-synced[data-synced='true']", timeout=SYNC_TIMEOUT_MS)
    page.wait_for_selector("#synced-state:has-text('brightness 33')", timeout=SYNC_TIMEOUT_MS)

    fps = page.locator("svg.chart[data-metric='fps']")
    fps.wait_for()
    assert int(fps.get_attribute("data-points") or 0) >= 25
    assert fps.locator("circle").count() >= 25
    assert fps.locator("polyline").count() == 1
    for metric in ("dropped_frames", "power", "commands", "errors"):
        chart = page.locator(f"svg.chart[data-metric='{metric}']")
        assert int(chart.get_attribute("data-points") or 0) >= 20, metric

    # a longer range: coarser buckets (10 min), so fewer points
    page.locator("#telemetry-range button[data-range='24h']").click()
    page.wait_for_selector("#telemetry-charts[data-range='24h']")
    points = int(fps.get_attribute("data-points") or 0)
    assert 2 <= points <= 5
    page.wait_for_selector("#update-version")


def test_admins_see_and_widen_rollouts_others_do_not(cloud: CloudServer, page: Any) -> None:
    admin = sign_up(page, cloud)
    page.wait_for_selector("#view-devices[data-admin='false']")
    assert page.locator("#admin-releases").count() == 0

    set_admin(cloud, admin)
    rollout_id = seed_rollout(cloud)
    page.reload()
    page.wait_for_selector("#view-devices[data-admin='true']")
    page.wait_for_selector("#releases tr[data-release]:has-text('9.9.0')")
    assert "3.0 MiB" in page.inner_text("#releases")
    row = page.locator(f"#rollouts tr[data-rollout='{rollout_id}']")
    row.wait_for()
    assert row.get_attribute("data-percentage") == "10"
    assert row.get_attribute("data-state") == "active"

    row.locator("button[data-action='widen']").click()
    page.wait_for_selector(f"#rollouts tr[data-rollout='{rollout_id}'][data-percentage='50']")
    assert rollout_percentage(cloud, rollout_id) == 50

    row.locator("button[data-action='pause']").click()
    page.wait_for_selector(f"#rollouts tr[data-rollout='{rollout_id}'][data-state='paused']")
    assert row.locator("button[data-action='resume']").is_enabled()

    # someone else: no such section
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_function("!localStorage.getItem('lightbox.cloud.tokens')")
    sign_up(page, cloud, navigate=False)
    page.wait_for_selector("#view-devices[data-admin='false']")
    assert page.locator("#admin-releases").count() == 0
