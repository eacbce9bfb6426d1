"""The Improv state machine with a fake Wi-Fi backend, button and matrix."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lightbox.edge.ble import BleProvisioning, improv
from lightbox.edge.ble.improv import (
    CommandId,
    DeviceInfoRequest,
    DeviceName,
    ErrorCode,
    Hostname,
    Identify,
    ScanWifi,
    State,
    WifiSettings,
)
from lightbox.edge.ble.provisioner import DeviceInfo, Provisioner
from tests.edge.ble.fakes import PASSWORD, FakeButton, FakeWifi, Recorder


def make(wifi: FakeWifi, rec: Recorder, *, timeout: float = 300.0, **kwargs: object) -> Provisioner:
    p = Provisioner(
        wifi=wifi,
        pairing_code=lambda: "PAIR-42",
        device=DeviceInfo(version="1.2.3", hardware="Raspberry Pi 4/aarch64"),
        device_name=rec.device_name,
        set_device_name=rec.set_device_name,
        identify=rec.identify,
        show_code=rec.show_code,
        authorization_timeout=timeout,
        **kwargs,  # type: ignore[arg-type]
    )
    p.add_listener(rec)
    return p


@pytest.fixture
def wifi() -> FakeWifi:
    return FakeWifi()


@pytest.fixture
def rec() -> Recorder:
    return Recorder()


@pytest.fixture
async def prov(wifi: FakeWifi, rec: Recorder) -> AsyncIterator[Provisioner]:
    p = make(wifi, rec)
    await p.start()
    yield p
    await p.stop()


async def send(p: Provisioner, command: improv.Command | bytes) -> None:
    packet = command if isinstance(command, bytes) else improv.build_command(command)
    p.write(packet)
    await p.drain()


def state_of(p: Provisioner) -> State:
    return p.state  # a call, so that mypy does not narrow across awaits


def last_error(rec: Recorder) -> ErrorCode:
    return rec.errors[-1]


def strings(packet: bytes) -> list[str]:
    _, data = improv.unframe(packet)
    return [s.decode() for s in improv.decode_strings(data)]


async def test_starts_requiring_authorization(prov: Provisioner) -> None:
    assert state_of(prov) == State.AUTHORIZATION_REQUIRED
    assert prov.error is ErrorCode.NONE
    assert int(prov.capabilities) == 0b1111


async def test_wifi_before_authorization_is_refused(
    prov: Provisioner, wifi: FakeWifi, rec: Recorder
) -> None:
    await send(prov, WifiSettings("home", PASSWORD))
    assert last_error(rec) == ErrorCode.NOT_AUTHORIZED
    assert wifi.connects == []
    assert state_of(prov) == State.AUTHORIZATION_REQUIRED


async def test_provision_with_button_answers_url_with_pairing_code(
    wifi: FakeWifi, rec: Recorder
) -> None:
    button = FakeButton()
    ble = BleProvisioning(
        wifi=wifi,
        pairing_code=lambda: "PAIR-42",
        version="1.2.3",
        device_name=rec.device_name,
        set_device_name=rec.set_device_name,
        identify=rec.identify,
        button=button,
        hardware="test",
    )
    p = ble.provisioner
    p.add_listener(rec)
    await p.start()  # the provisioner and the button, without D-Bus
    ble._button_task = asyncio.create_task(ble._watch_button())
    try:
        button.press()
        for _ in range(100):
            if state_of(p) == State.AUTHORIZED:
                break
            await asyncio.sleep(0.01)
        assert state_of(p) == State.AUTHORIZED
        await send(p, WifiSettings("home", PASSWORD))
        assert rec.states == [State.AUTHORIZED, State.PROVISIONING, State.PROVISIONED]
        assert strings(rec.results[-1]) == ["http://192.168.1.50/#pair=PAIR-42"]
        assert improv.unframe(rec.results[-1])[0] == CommandId.WIFI_SETTINGS
        assert not p.authorized  # used up
    finally:
        ble._button_task.cancel()
        await asyncio.gather(ble._button_task, return_exceptions=True)
        await p.stop()


async def test_url_carries_the_port(wifi: FakeWifi, rec: Recorder) -> None:
    p = make(wifi, rec, http_port=8080)
    await p.start()
    p.authorize("test")
    await send(p, WifiSettings("home", PASSWORD))
    assert strings(rec.results[-1]) == ["http://192.168.1.50:8080/#pair=PAIR-42"]
    await p.stop()


async def test_wrong_password_is_unable_to_connect_and_stays_authorized(
    prov: Provisioner, rec: Recorder
) -> None:
    prov.authorize("test")
    await send(prov, WifiSettings("home", "wrong"))
    assert last_error(rec) == ErrorCode.UNABLE_TO_CONNECT
    assert state_of(prov) == State.AUTHORIZED
    assert rec.results == []
    # and a second try works
    await send(prov, WifiSettings("home", PASSWORD))
    assert state_of(prov) == State.PROVISIONED


async def test_backend_failure_is_unknown_error(
    prov: Provisioner, wifi: FakeWifi, rec: Recorder
) -> None:
    prov.authorize("test")
    wifi.broken = True
    await send(prov, WifiSettings("home", PASSWORD))
    assert last_error(rec) == ErrorCode.UNKNOWN
    assert state_of(prov) == State.AUTHORIZED
    await send(prov, ScanWifi())
    assert last_error(rec) == ErrorCode.UNKNOWN


async def test_authorization_times_out(wifi: FakeWifi, rec: Recorder) -> None:
    p = make(wifi, rec, timeout=0.05)
    await p.start()
    p.authorize("button")
    assert state_of(p) == State.AUTHORIZED
    await asyncio.sleep(0.12)
    assert state_of(p) == State.AUTHORIZATION_REQUIRED
    await send(p, WifiSettings("home", PASSWORD))
    assert last_error(rec) == ErrorCode.NOT_AUTHORIZED
    await p.stop()


async def test_failed_connect_restarts_the_authorization_timeout(
    wifi: FakeWifi, rec: Recorder
) -> None:
    p = make(wifi, rec, timeout=0.15)
    await p.start()
    p.authorize("button")
    await asyncio.sleep(0.1)
    await send(p, WifiSettings("home", "wrong"))
    await asyncio.sleep(0.1)  # 0.2 s after authorizing, 0.1 s after the failure
    assert state_of(p) == State.AUTHORIZED
    await asyncio.sleep(0.1)
    assert state_of(p) == State.AUTHORIZATION_REQUIRED
    await p.stop()


async def test_no_timeout_while_provisioning(wifi: FakeWifi, rec: Recorder) -> None:
    p = make(wifi, rec, timeout=0.05)
    await p.start()
    p.authorize("button")
    wifi.connect_gate = asyncio.Event()
    p.write(improv.build_command(WifiSettings("home", PASSWORD)))
    await asyncio.sleep(0.1)
    assert state_of(p) == State.PROVISIONING
    wifi.connect_gate.set()
    await p.drain()
    assert state_of(p) == State.PROVISIONED
    await p.stop()


async def test_already_on_wifi_idles_as_provisioned(rec: Recorder) -> None:
    p = make(FakeWifi(connected=True), rec, timeout=0.05)
    await p.start()
    assert state_of(p) == State.PROVISIONED
    p.authorize("button")  # re-open to move it to another network
    assert state_of(p) == State.AUTHORIZED
    await asyncio.sleep(0.12)
    assert state_of(p) == State.PROVISIONED
    await p.stop()


async def test_without_required_authorization_starts_authorized(
    wifi: FakeWifi, rec: Recorder
) -> None:
    p = make(wifi, rec, require_authorization=False)
    await p.start()
    assert state_of(p) == State.AUTHORIZED
    await send(p, WifiSettings("home", PASSWORD))
    assert state_of(p) == State.PROVISIONED
    await p.stop()


async def test_identify_and_device_info_need_no_authorization(
    prov: Provisioner, rec: Recorder
) -> None:
    await send(prov, Identify())
    assert rec.identified == 1
    assert rec.results == []
    await send(prov, DeviceInfoRequest())
    assert strings(rec.results[-1]) == [
        "LightBox",
        "1.2.3",
        "Raspberry Pi 4/aarch64",
        "LightBox Kitchen",
    ]
    assert ErrorCode.NOT_AUTHORIZED not in rec.errors


async def test_scan_lists_networks_in_one_result(prov: Provisioner, rec: Recorder) -> None:
    await send(prov, ScanWifi())
    assert strings(rec.results[-1]) == ["home", "-41", "WPA2", "cafe", "-67", "NO"]


async def test_scan_result_fits_one_packet(
    prov: Provisioner, wifi: FakeWifi, rec: Recorder
) -> None:
    from lightbox.edge.wifi.base import AccessPoint

    wifi.networks = [AccessPoint(f"network-number-{i:03d}", -50 - i, True) for i in range(50)]
    await send(prov, ScanWifi())
    names = strings(rec.results[-1])[0::3]
    assert 0 < len(names) < 50
    assert names[0] == "network-number-000"


async def test_hostname_needs_authorization(
    prov: Provisioner, wifi: FakeWifi, rec: Recorder
) -> None:
    await send(prov, Hostname())
    assert last_error(rec) == ErrorCode.NOT_AUTHORIZED
    await send(prov, Hostname("kitchen"))
    assert last_error(rec) == ErrorCode.NOT_AUTHORIZED
    assert wifi.hostname == "lightbox"


async def test_hostname_set_and_bad_hostname(
    prov: Provisioner, wifi: FakeWifi, rec: Recorder
) -> None:
    prov.authorize("test")
    await send(prov, Hostname("kitchen-sign"))
    assert wifi.hostname == "kitchen-sign"
    assert strings(rec.results[-1]) == ["kitchen-sign"]
    for bad in ("-nope", "under_score", "x" * 64, "refused"):
        await send(prov, Hostname(bad))
        assert last_error(rec) == ErrorCode.BAD_HOSTNAME, bad
    assert wifi.hostname == "kitchen-sign"


async def test_hostname_get(prov: Provisioner, rec: Recorder) -> None:
    prov.authorize("test")
    await send(prov, Hostname())
    assert len(strings(rec.results[-1])) == 1


async def test_device_name(prov: Provisioner, rec: Recorder) -> None:
    await send(prov, DeviceName())
    assert strings(rec.results[-1]) == ["LightBox Kitchen"]
    await send(prov, DeviceName("Shop window"))
    assert last_error(rec) == ErrorCode.NOT_AUTHORIZED
    prov.authorize("test")
    await send(prov, DeviceName("Shop window"))
    assert strings(rec.results[-1]) == ["Shop window"]


async def test_packet_errors(prov: Provisioner, rec: Recorder) -> None:
    await send(prov, b"\x02\x00\x00")
    assert last_error(rec) == ErrorCode.INVALID_RPC_PACKET
    await send(prov, improv.frame(0x42, b""))
    assert last_error(rec) == ErrorCode.UNKNOWN_RPC_COMMAND
    # a good command clears the error
    await send(prov, Identify())
    assert last_error(rec) == ErrorCode.NONE


async def test_repeated_refusals_are_each_notified(prov: Provisioner, rec: Recorder) -> None:
    await send(prov, WifiSettings("home", PASSWORD))
    await send(prov, WifiSettings("home", PASSWORD))
    assert rec.errors.count(ErrorCode.NOT_AUTHORIZED) == 2


async def test_split_writes(prov: Provisioner, rec: Recorder) -> None:
    prov.authorize("test")
    packet = improv.build_command(WifiSettings("home", PASSWORD))
    for i in range(0, len(packet), 4):
        prov.write(packet[i : i + 4])
    await prov.drain()
    assert state_of(prov) == State.PROVISIONED


async def test_identify_failure_is_unknown_error(wifi: FakeWifi, rec: Recorder) -> None:
    async def broken() -> None:
        raise RuntimeError("matrix gone")

    p = make(wifi, rec)
    p._identify = broken
    await p.start()
    await send(p, Identify())
    assert last_error(rec) == ErrorCode.UNKNOWN
    await send(p, DeviceInfoRequest())  # and the command task lives on
    assert last_error(rec) == ErrorCode.NONE
    await p.stop()


# -- authorization by a code on the matrix ------------------------------------------------


async def test_code_authorizes(prov: Provisioner, rec: Recorder) -> None:
    await prov.request_code()
    code = rec.code
    assert code is not None and len(code) == 6 and code.isdigit()
    assert prov.code_showing
    await prov.request_code()  # asking again shows the same code
    assert rec.code == code
    assert await prov.confirm_code(code)
    assert state_of(prov) == State.AUTHORIZED
    await asyncio.sleep(0)  # the matrix hides the code
    await asyncio.sleep(0)
    assert rec.shown[-1] is None
    assert not prov.code_showing


async def test_wrong_codes_then_withdrawn(prov: Provisioner, rec: Recorder) -> None:
    await prov.request_code()
    code = rec.code
    assert code is not None
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    for _ in range(prov.max_code_attempts):
        assert not await prov.confirm_code(wrong)
        assert last_error(rec) == ErrorCode.NOT_AUTHORIZED
    assert rec.shown[-1] is None  # withdrawn after too many
    assert not await prov.confirm_code(code)  # the old code is no good now
    assert state_of(prov) == State.AUTHORIZATION_REQUIRED


async def test_code_without_request_is_refused(prov: Provisioner, rec: Recorder) -> None:
    assert not await prov.confirm_code("000000")
    assert last_error(rec) == ErrorCode.NOT_AUTHORIZED


async def test_code_expires(wifi: FakeWifi, rec: Recorder) -> None:
    p = make(wifi, rec, code_ttl=0.05)
    await p.start()
    await p.request_code()
    code = rec.code
    assert code is not None
    await asyncio.sleep(0.12)
    assert rec.shown[-1] is None
    assert not await p.confirm_code(code)
    await p.stop()


async def test_stop_hides_the_code(wifi: FakeWifi, rec: Recorder) -> None:
    p = make(wifi, rec)
    await p.start()
    await p.request_code()
    await p.stop()
    assert rec.shown[-1] is None


# -- fuzzing: malformed input never crashes, always gets an answer ----------------------------

_packets = st.one_of(
    st.binary(max_size=300),
    st.builds(improv.frame, st.integers(0, 255), st.binary(max_size=255)),
    st.builds(
        lambda ssid, pw: improv.build_command(WifiSettings(ssid, pw)),
        st.text(min_size=1, max_size=8),
        st.text(max_size=20),
    ),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_packets, min_size=1, max_size=6), st.booleans())
def test_fuzz_provisioner_answers_and_survives(chunks: list[bytes], authorized: bool) -> None:
    async def scenario() -> None:
        wifi, rec = FakeWifi(), Recorder()
        now = [0.0]
        p = make(wifi, rec, clock=lambda: now[0])
        await p.start()
        if authorized:
            p.authorize("test")
        for chunk in chunks:
            p.write(chunk)
        await p.drain()
        assert p._worker is not None and not p._worker.done()
        assert state_of(p) in State
        assert all(e in ErrorCode for e in rec.errors)
        if not authorized:
            assert wifi.connects == []
            assert state_of(p) == State.AUTHORIZATION_REQUIRED
        for packet in rec.results:
            improv.unframe(packet)  # every result is well framed
        # still answering afterwards, once a partial packet left over has gone stale
        now[0] += improv.REASSEMBLY_TIMEOUT + 1
        p.write(improv.frame(0x40, b""))
        await p.drain()
        assert last_error(rec) == ErrorCode.UNKNOWN_RPC_COMMAND
        await p.stop()

    asyncio.run(scenario())


@settings(max_examples=100, deadline=None)
@given(st.binary(min_size=3, max_size=258))
def test_fuzz_before_authorization_never_provisions(packet: bytes) -> None:
    async def scenario() -> None:
        wifi, rec = FakeWifi(), Recorder()
        p = make(wifi, rec)
        await p.start()
        p.write(packet)
        await p.drain()
        assert wifi.connects == []
        assert wifi.hostname == "lightbox"
        assert rec.names == ["LightBox Kitchen"]
        await p.stop()

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("packet", "code"),
    [
        (b"\x01\x03\x01a\x00\x00", ErrorCode.INVALID_RPC_PACKET),  # bad checksum
        (improv.frame(0x01, b"\x04home"), ErrorCode.INVALID_RPC_PACKET),  # truncated data
        (improv.frame(0x09, b""), ErrorCode.UNKNOWN_RPC_COMMAND),
        (improv.build_command(WifiSettings("home", PASSWORD)), ErrorCode.NOT_AUTHORIZED),
        (improv.build_command(Hostname("x")), ErrorCode.NOT_AUTHORIZED),
        (improv.build_command(DeviceName("x")), ErrorCode.NOT_AUTHORIZED),
    ],
)
async def test_each_refusal_has_its_code(
    prov: Provisioner, rec: Recorder, packet: bytes, code: ErrorCode
) -> None:
    await send(prov, packet)
    assert last_error(rec) is code


async def test_oversized_write_is_invalid(prov: Provisioner, rec: Recorder) -> None:
    prov.write(b"\x01\xff" + b"\x00" * 300)
    await prov.drain()
    assert last_error(rec) == ErrorCode.INVALID_RPC_PACKET
