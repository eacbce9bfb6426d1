"""Downloads through a faulty network: cut connections, HTTP 500s, storage gone."""

from __future__ import annotations

from urllib.parse import urlsplit

from lightbox.edge.update.agent import UpdateState
from lightbox.edge.update.launcher import read_state
from tests.edge.update.conftest import Device, Faults, offering, publish
from tests.edge.update.faultproxy import FaultProxy
from tests.release.s3servers import S3Server, free_port

S = UpdateState


def _port(endpoint: str) -> int:
    port = urlsplit(endpoint).port
    assert port is not None
    return port


async def test_download_cut_at_random_points_resumes_without_refetching(
    device: Device, moto: S3Server, faults: Faults
) -> None:
    artifact = device.artifact("1.1.0", padding=1_500_000)
    size = artifact.stat().st_size
    async with FaultProxy(_port(moto.endpoint), cut_range=(size // 12, size // 5)) as proxy:
        published = publish(moto, artifact, endpoint=proxy.endpoint)
        agent = device.agent(offering(published.offer))
        assert await agent.run_once() is S.COMMITTED
    faults.inject(proxy.stats.cuts_injected)
    assert proxy.stats.cuts_injected >= 4
    assert proxy.stats.body_bytes <= 1.1 * size, (proxy.stats, size)
    device.service.wait_version("1.1.0")


async def test_storage_failing_every_second_request_still_updates(
    device: Device, moto: S3Server, faults: Faults
) -> None:
    artifact = device.artifact("1.1.0", padding=300_000)
    size = artifact.stat().st_size
    async with FaultProxy(
        _port(moto.endpoint), fail_every_second=True, cut_range=(size // 4, size // 3)
    ) as proxy:
        published = publish(moto, artifact, endpoint=proxy.endpoint)
        assert await device.agent(offering(published.offer)).run_once() is S.COMMITTED
    faults.inject(proxy.stats.errors_injected)
    assert proxy.stats.errors_injected >= 2
    device.service.wait_version("1.1.0")


async def test_storage_gone_fails_cleanly_and_leaves_the_running_version(
    device: Device, moto: S3Server, faults: Faults
) -> None:
    faults.inject()
    artifact = device.artifact("1.1.0")
    dead = f"http://127.0.0.1:{free_port()}"
    published = publish(moto, artifact, endpoint=dead)
    before, state = device.slot_snapshot(), read_state(device.root)
    assert await device.agent(offering(published.offer)).run_once() is S.FAILED
    assert device.slot_snapshot() == before
    assert read_state(device.root) == state
    failed = device.outbox.pending()[-2]
    assert (failed["state"], failed["reason"], failed["version"]) == ("failed", "download", "1.1.0")
    device.service.wait_version("1.0.0")


async def test_a_refused_url_fails_without_retrying_and_a_new_url_resumes(
    device: Device, moto: S3Server, faults: Faults
) -> None:
    faults.inject()
    artifact = device.artifact("1.1.0", padding=200_000)
    size = artifact.stat().st_size
    async with FaultProxy(_port(moto.endpoint), cut_range=(size // 3, size // 2), max_cuts=1) as p:
        published = publish(moto, artifact, endpoint=p.endpoint)
        gone = published.offer.model_copy(
            update={"url": published.offer.url.replace("/releases/", "/missing/")}
        )
        first = device.agent(offering(published.offer))
        # the first attempt is cut once and then the URL "expires" (404 here)
        agent = device.agent(offering(gone))
        assert await agent.run_once() is S.FAILED
        assert device.outbox.pending()[-2]["reason"] == "url_refused"
        assert await first.run_once() is S.COMMITTED
    device.service.wait_version("1.1.0")
