"""MqttLink against the real Mosquitto: commands, results, retained state and status."""

from __future__ import annotations

import asyncio
import json
import logging
import socket

import aiomqtt
import pytest

from lightbox.edge.mqtt import MqttLink, parse_mqtt_url
from lightbox.edge.mqtt.link import STATE_INTERVAL_S, Backoff, _paho_of, _QuickAcks, _Writes
from lightbox.protocol import DeviceInfo, State
from tests.edge.mqtt.conftest import (
    Device,
    FakeHandler,
    RunningLink,
    Watcher,
    publish,
    results_by_id,
)

pytestmark = pytest.mark.both_loops  # the services run on uvloop where it is installed


def make_link(device: Device, url: str, handler: FakeHandler, **extra: object) -> MqttLink:
    link = MqttLink(device.settings(url, **extra), device.device_id, handler)
    handler.link = link
    return link


def set_cmd(command_id: str | None, **fields: object) -> bytes:
    body: dict[str, object] = {"type": "set", **fields}
    if command_id is not None:
        body["id"] = command_id
    return json.dumps(body).encode()


async def test_commands_are_answered_with_their_ids(broker_url: str, device: Device) -> None:
    handler = FakeHandler()
    t = device.topics
    async with (
        Watcher(broker_url, [t.result]) as watch,
        RunningLink(make_link(device, broker_url, handler)),
    ):
        await publish(
            broker_url,
            t.cmd,
            set_cmd("c1", brightness=10),
            set_cmd("c2", power=False),
            set_cmd(None, brightness=99),
        )
        await watch.wait_for(lambda ms: len(ms) >= 3, what="3 results")
        results = [json.loads(m.payload) for m in watch.on(t.result)]
    assert results == [
        {"id": "c1", "ok": True, "error": None, "version": 1},
        {"id": "c2", "ok": True, "error": None, "version": 2},
        {"id": None, "ok": True, "error": None, "version": 3},
    ]
    assert not any(m.retain for m in watch.messages)
    assert handler.state.brightness == 99
    assert handler.state.power is False


@pytest.mark.parametrize(
    ("payload", "code", "command_id"),
    [
        (b"{not json", "invalid_json", None),
        (b"", "invalid_json", None),
        (b"[1, 2]", "invalid_command", None),
        (b'{"id": "x1", "type": "set"}', "invalid_command", "x1"),
        (b'{"id": "x2", "type": "set", "brightness": 999}', "invalid_command", "x2"),
        (b'{"id": "x3", "type": "dance"}', "unknown_command", "x3"),
        (b"\xff\xfe", "invalid_json", None),
    ],
)
async def test_bad_commands_get_an_error_and_the_link_keeps_going(
    broker_url: str, device: Device, payload: bytes, code: str, command_id: str | None
) -> None:
    handler = FakeHandler()
    t = device.topics
    async with (
        Watcher(broker_url, [t.result]) as watch,
        RunningLink(make_link(device, broker_url, handler)) as link,
    ):
        await publish(broker_url, t.cmd, payload, set_cmd("after", brightness=1))
        await watch.wait_for(lambda ms: len(ms) >= 2, what="2 results")
        bad, good = (json.loads(m.payload) for m in watch.on(t.result))
        assert link.connected
    assert bad["ok"] is False
    assert bad["id"] == command_id
    assert bad["error"]["code"] == code
    assert bad["error"]["message"]
    assert good == {"id": "after", "ok": True, "error": None, "version": 1}


async def test_handler_crash_is_answered_internal_and_logged(
    broker_url: str, device: Device, caplog: pytest.LogCaptureFixture
) -> None:
    handler = FakeHandler()
    handler.explode_on = {"bad"}
    t = device.topics
    caplog.set_level(logging.ERROR, logger="lightbox.edge.mqtt")
    async with (
        Watcher(broker_url, [t.result]) as watch,
        RunningLink(make_link(device, broker_url, handler)),
    ):
        await publish(broker_url, t.cmd, set_cmd("bad", power=False), set_cmd("ok", power=False))
        await watch.wait_for(lambda ms: len(ms) >= 2, what="2 results")
    found = results_by_id(watch, t.result)
    (crashed,) = found["bad"]
    assert crashed.ok is False
    assert crashed.error is not None
    assert crashed.error.code == "internal"
    assert found["ok"][0].ok is True
    assert any(
        device.device_id in r.getMessage() and r.exc_info is not None for r in caplog.records
    )


async def test_same_id_twice_is_applied_once_and_answered_twice(
    broker_url: str, device: Device
) -> None:
    handler = FakeHandler()
    t = device.topics
    async with (
        Watcher(broker_url, [t.result]) as watch,
        RunningLink(make_link(device, broker_url, handler)),
    ):
        twice = set_cmd("same", brightness=42)
        await publish(broker_url, t.cmd, twice, twice)
        await watch.wait_for(lambda ms: len(ms) >= 2, what="2 results")
    first, second = results_by_id(watch, t.result)["same"]
    assert first == second
    assert first.version == 1
    assert handler.calls == 2
    assert handler.applied["same"] == 1


async def test_status_info_and_state_are_retained(broker_url: str, device: Device) -> None:
    handler = FakeHandler()
    t = device.topics

    def info() -> DeviceInfo:
        return DeviceInfo(
            id=device.device_id,
            name="Test box",
            version="0.1.0",
            width=64,
            height=32,
            driver="emulator",
            uptime_s=1.0,
            fps=60.0,
            target_fps=60,
            dropped_frames=0,
            estimated_ma=0.0,
            mqtt_connected=link.connected,
        )

    link = MqttLink(device.settings(broker_url), device.device_id, handler, info=info)
    async with RunningLink(link):
        async with Watcher(broker_url, [t.result, t.state]) as early:
            await publish(broker_url, t.cmd, set_cmd("b", brightness=7))
            # the state goes out after the result (at most every STATE_INTERVAL_S): a
            # subscriber arriving before it would get it live, not retained
            await early.wait_for(
                lambda ms: (
                    any(m.topic.value == t.result for m in ms)
                    and any(
                        m.topic.value == t.state
                        and State.model_validate_json(m.payload).brightness == 7
                        for m in ms
                    )
                ),
                what="a result and the new state",
            )
        # A subscriber arriving later gets the retained status, info and latest state.
        async with Watcher(broker_url, [t.status, t.info, t.state]) as late:
            await late.wait_for(
                lambda ms: (
                    {m.topic.value for m in ms} >= {t.status, t.info, t.state}
                    and any(
                        State.model_validate_json(m.payload).brightness == 7
                        for m in ms
                        if m.topic.value == t.state
                    )
                ),
                what="retained status, info and state",
            )
        assert all(m.retain for m in late.messages)
        assert late.on(t.status)[0].payload == b"online"
        got_info = DeviceInfo.model_validate_json(late.on(t.info)[0].payload)
        assert got_info.id == device.device_id
        assert got_info.mqtt_connected is True
        # The latest retained state is the one after the command.
        state = State.model_validate_json(late.on(t.state)[-1].payload)
        assert state == handler.state
        assert state.version == 1


async def test_publish_state_coalesces_to_the_latest(broker_url: str, device: Device) -> None:
    handler = FakeHandler()
    t = device.topics
    link = make_link(device, broker_url, handler)
    # Before connecting: nothing is sent, the latest wins once connected.
    for level in range(1, 50):
        link.publish_state(State(brightness=level, version=level))
    async with RunningLink(link), Watcher(broker_url, [t.state]) as watch:
        await watch.wait_for(lambda ms: len(ms) >= 1, what="the retained state")
        for level in range(100, 200):
            link.publish_state(State(brightness=level, version=level))
        await watch.wait_for(
            lambda ms: State.model_validate_json(ms[-1].payload).brightness == 199,
            what="the last state",
        )
        # Coalesced: far fewer messages than calls, and the last one is the latest.
        assert len(watch.messages) < 100


async def test_a_stream_of_changes_is_published_at_most_once_per_interval(
    broker_url: str, device: Device
) -> None:
    handler = FakeHandler()
    t = device.topics
    link = make_link(device, broker_url, handler)
    async with RunningLink(link), Watcher(broker_url, [t.state]) as watch:
        link.publish_state(State(brightness=1, version=1))
        await watch.wait_for(lambda ms: len(ms) >= 1, what="the first state")
        loop = asyncio.get_running_loop()
        started = loop.time()
        for level in range(2, 102):  # a change every 2 ms, as a dragged slider sends them
            link.publish_state(State(brightness=level, version=level))
            await asyncio.sleep(0.002)
        await watch.wait_for(
            lambda ms: State.model_validate_json(ms[-1].payload).version == 101,
            what="the last state",
        )
        took = loop.time() - started
        versions = [State.model_validate_json(m.payload).version for m in watch.messages[1:]]
        assert versions == sorted(versions), "never an older state after a newer one"
        assert len(versions) <= took / STATE_INTERVAL_S + 2, (len(versions), took)


async def test_publish_state_from_another_thread(broker_url: str, device: Device) -> None:
    handler = FakeHandler()
    t = device.topics
    link = make_link(device, broker_url, handler)
    async with RunningLink(link), Watcher(broker_url, [t.state]) as watch:
        await asyncio.to_thread(link.publish_state, State(brightness=3, version=77))
        await watch.wait_for(
            lambda ms: any(State.model_validate_json(m.payload).version == 77 for m in ms),
            what="state version 77",
        )


async def test_graceful_stop_publishes_offline(broker_url: str, device: Device) -> None:
    t = device.topics
    link = make_link(device, broker_url, FakeHandler())
    async with Watcher(broker_url, [t.status]) as watch:
        async with RunningLink(link):
            await watch.wait_payload(t.status, b"online")
        await watch.wait_payload(t.status, b"offline")
        assert not link.connected
    async with Watcher(broker_url, [t.status]) as late:
        await late.wait_for(lambda ms: len(ms) >= 1, what="retained status")
        assert late.messages[0].payload == b"offline"
        assert late.messages[0].retain


async def test_cancelling_run_still_publishes_offline(broker_url: str, device: Device) -> None:
    t = device.topics
    link = make_link(device, broker_url, FakeHandler())
    async with Watcher(broker_url, [t.status]) as watch:
        task = asyncio.create_task(link.run())
        await link.wait_connected(10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await watch.wait_payload(t.status, b"offline")


async def test_commands_queued_while_away_are_answered_after_reconnect(
    broker_url: str, device: Device
) -> None:
    handler = FakeHandler()
    t = device.topics
    link = make_link(device, broker_url, handler)
    async with RunningLink(link):  # creates the persistent session and its subscription
        pass
    async with Watcher(broker_url, [t.result]) as watch:
        await publish(broker_url, t.cmd, *(set_cmd(f"q{i}", brightness=i) for i in range(20)))
        await asyncio.sleep(0.2)
        assert watch.messages == []  # nobody home
        async with RunningLink(link):
            await watch.wait_for(lambda ms: len(ms) >= 20, what="20 results")
    found = results_by_id(watch, t.result)
    assert sorted(found) == sorted(f"q{i}" for i in range(20))
    assert handler.state.brightness == 19  # in order
    assert all(count == 1 for count in handler.applied.values())


async def test_stop_lets_the_running_command_finish(broker_url: str, device: Device) -> None:
    handler = FakeHandler()
    handler.delay_s = 0.5
    t = device.topics
    link = make_link(device, broker_url, handler)
    async with Watcher(broker_url, [t.result, t.status]) as watch:
        async with RunningLink(link):
            await publish(broker_url, t.cmd, set_cmd("slow", power=False))
            await watch.wait_for(lambda ms: handler.calls >= 1, what="the handler to start")
        await watch.wait_payload(t.status, b"offline")
        assert "slow" in results_by_id(watch, t.result)


async def test_unreachable_broker_keeps_retrying(device: Device) -> None:
    # Port 1 on loopback refuses connections: the link must retry, not end.
    link = make_link(device, "mqtt://127.0.0.1:1", FakeHandler())
    task = asyncio.create_task(link.run())
    await asyncio.sleep(0.5)
    assert not task.done()
    assert not link.connected
    with pytest.raises(TimeoutError):
        await link.wait_connected(0.1)
    await link.stop()
    async with asyncio.timeout(5):
        await task


async def test_run_twice_at_once_is_refused(broker_url: str, device: Device) -> None:
    link = make_link(device, broker_url, FakeHandler())
    async with RunningLink(link):
        with pytest.raises(RuntimeError, match="already running"):
            await link.run()


def test_backoff_grows_with_full_jitter_and_resets() -> None:
    high = Backoff(0.5, 30.0, rand=lambda: 1.0)
    assert [high.next() for _ in range(8)] == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    low = Backoff(0.5, 30.0, rand=lambda: 0.0)
    assert {low.next() for _ in range(8)} == {0.5}
    high.reset()
    assert high.next() == 0.5
    real = Backoff(0.5, 30.0)
    for _ in range(200):
        assert 0.5 <= real.next() <= 30.0


async def test_a_retained_command_with_an_id_is_applied_once(
    broker_url: str, device: Device
) -> None:
    """A retained command comes back on every resubscribe: its id keeps it from re-applying."""
    handler = FakeHandler()
    t = device.topics
    link = make_link(device, broker_url, handler)
    await publish(broker_url, t.cmd, set_cmd("kept", power=False), retain=True)
    try:
        async with Watcher(broker_url, [t.result]) as watch:
            async with RunningLink(link):
                await watch.wait_for(lambda ms: len(ms) >= 1, what="a result")
            async with RunningLink(link):
                await watch.wait_for(lambda ms: len(ms) >= 2, what="a second result")
        first, second = results_by_id(watch, t.result)["kept"]
        assert first == second
        assert first.ok
        assert handler.applied["kept"] == 1
    finally:
        await publish(broker_url, t.cmd, b"", retain=True)


async def test_writes_go_out_in_order_also_when_the_socket_is_full(
    broker_url: str, device: Device, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The link's write path (_Writes): many packets queued in one step, and payloads larger
    than the socket takes at once (the event loop then watches it for writability), all
    arrive, complete and in order."""
    parsed = parse_mqtt_url(broker_url)
    topic = f"{device.prefix}/writes"
    big = [bytes([n]) * (1 << 20) for n in range(3)]  # 1 MiB each: many sends
    small = [f"small-{n}".encode() for n in range(200)]
    async with Watcher(broker_url, [topic]) as seen:
        client = aiomqtt.Client(parsed.host, parsed.port)
        paho = _paho_of(client)
        assert paho is not None
        _Writes.install(client, paho)
        assert getattr(paho.on_socket_register_write, "__self__", None).__class__ is _Writes
        calls = {"flush": 0, "write": 0}
        flush, write = _Writes._flush, _Writes._write

        def counted_flush(self: _Writes, sock: object) -> None:
            calls["flush"] += 1
            flush(self, sock)

        def counted_write(self: _Writes) -> None:
            calls["write"] += 1
            write(self)

        monkeypatch.setattr(_Writes, "_flush", counted_flush)
        monkeypatch.setattr(_Writes, "_write", counted_write)
        async with client:
            sock = paho.socket()
            assert isinstance(sock, socket.socket)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16 * 1024)  # a full socket
            # queued in one step: no await between them
            pending = [client.publish(topic, p, qos=1) for p in (*small[:100], *big, *small[100:])]
            await asyncio.wait_for(asyncio.gather(*pending), 30)
        want = [*small[:100], *big, *small[100:]]
        await seen.wait_for(lambda ms: len(ms) >= len(want), limit_s=30, what="every payload")
        assert [m.payload for m in seen.messages] == want
        assert calls["write"] > calls["flush"]  # the socket was watched for writability


@pytest.mark.skipif(not hasattr(socket, "TCP_QUICKACK"), reason="TCP_QUICKACK is Linux only")
async def test_every_read_leaves_the_socket_acknowledging_at_once(
    broker_url: str, device: Device
) -> None:
    """_QuickAcks: after each message read, the kernel is out of delayed-ACK ("pingpong")
    mode again, so a broker with Nagle's algorithm on does not hold the next command back
    waiting for our ACK. Each round puts the socket into pingpong mode, has a message
    arrive and looks at the mode before the kernel's own delayed-ACK timer (40 ms) would
    have left it."""
    parsed = parse_mqtt_url(broker_url)
    topic = f"{device.prefix}/quickack"
    client = aiomqtt.Client(parsed.host, parsed.port)
    paho = _paho_of(client)
    assert paho is not None
    _QuickAcks.install(paho)
    assert getattr(paho.loop_read, "__self__", None).__class__ is _QuickAcks
    rounds = 20
    async with client, aiomqtt.Client(parsed.host, parsed.port) as sender:
        await client.subscribe(topic, qos=0)
        sock = paho.socket()
        assert isinstance(sock, socket.socket)
        for n in range(rounds):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 0)
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK) == 0
            await sender.publish(topic, f"m{n}".encode(), qos=0)
            message = await asyncio.wait_for(anext(client.messages), 10)
            assert message.payload == f"m{n}".encode()
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK) == 1, f"round {n}"
