from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lightbox.sync import (
    TOMBSTONE,
    Ack,
    ClockDriftError,
    Delta,
    Document,
    Hlc,
    PeerMarks,
    Register,
    Timestamp,
    WireFormatError,
    acknowledge,
    coalesce,
    collect_garbage,
    decode_ack,
    decode_delta,
    delta_since,
    encode_ack,
    encode_delta,
    outgoing,
    receive,
    restore,
    rewind,
    snapshot,
)
from tests.sync.strategies import documents, timestamps, wide_timestamps

D = "device"
C = "cloud"


def ts(wall: int, counter: int = 0, origin: str = D) -> Timestamp:
    return Timestamp(wall, counter, origin)


def test_delta_since_holds_only_newer_registers() -> None:
    doc = (
        Document()
        .set("state.power", True, ts(1))
        .set("state.brightness", 5, ts(3))
        .delete("presets", "a", ts(4, 0, C))
    )
    delta = delta_since(doc, ts(2), origin=D)
    assert set(delta.registers) == {"state.brightness", "presets/a"}
    assert (delta.since, delta.upto) == (ts(2), ts(4, 0, C))
    assert set(delta_since(doc, ts(2), origin=D, exclude_origin=C).registers) == {
        "state.brightness"
    }
    assert delta_since(doc, ts(4, 0, C), origin=D).is_empty


def test_limit_never_splits_one_edit() -> None:
    doc = Document().set("a", 1, ts(1)).set("b", 2, ts(2)).set("c", 3, ts(2)).set("d", 4, ts(3))
    first = delta_since(doc, None, origin=D, limit=2)
    assert set(first.registers) == {"a", "b", "c"}
    assert first.upto == ts(2)
    second = delta_since(doc, first.upto, origin=D, limit=2)
    assert set(second.registers) == {"d"}
    assert second.upto == ts(3)


def test_coalesce_keeps_the_latest_value_and_the_contiguous_range() -> None:
    burst = [
        Delta(D, ts(i), ts(i + 1), {"state.brightness": Register(i * 10, ts(i + 1))})
        for i in range(5)
    ]
    one = coalesce(reversed(burst))
    assert one.registers == {"state.brightness": Register(40, ts(5))}
    assert (one.since, one.upto) == (ts(0), ts(5))
    gapped = coalesce([burst[0], burst[3]])
    assert (gapped.since, gapped.upto) == (ts(0), ts(1))
    assert gapped.registers["state.brightness"].value == 30
    with pytest.raises(ValueError, match="one sender"):
        coalesce([burst[0], Delta(C, None, None)])


@given(documents(), st.one_of(st.none(), timestamps), st.sampled_from([D, C]))
def test_wire_round_trip(doc: Document, since: Timestamp | None, origin: str) -> None:
    delta = delta_since(doc, since, origin=origin)
    back = decode_delta(encode_delta(delta))
    assert back == delta


@given(st.dictionaries(st.sampled_from(["a", "presets/b", "c"]), wide_timestamps))
def test_wire_round_trip_with_wide_timestamps(stamps: dict[str, Timestamp]) -> None:
    regs = {
        k: Register(TOMBSTONE if k.startswith("presets") else [1, "x"], t)
        for k, t in stamps.items()
    }
    delta = Delta(D, None, Document(regs).top, regs)
    assert decode_delta(encode_delta(delta)) == delta


def test_wire_format_is_compact() -> None:
    delta = Delta(
        D,
        ts(1_700_000_000_000),
        ts(1_700_000_000_250, 1),
        {
            "state.brightness": Register(200, ts(1_700_000_000_250, 1)),
            "presets/old": Register(TOMBSTONE, ts(1_700_000_000_100)),
            "state.power": Register(True, ts(1_700_000_000_200, 0, C)),
        },
    )
    data = json.loads(encode_delta(delta))
    assert data["b"] == 1_700_000_000_100
    assert data["e"] == [
        ["presets/old", 0],
        ["state.power", [100, 0, "cloud"], True],
        ["state.brightness", [150, 1], 200],
    ]
    assert decode_ack(encode_ack(Ack(ts(5), gap=True))) == Ack(ts(5), gap=True)
    assert encode_ack(Ack(None)) == b'{"v":1,"a":null}'


@pytest.mark.parametrize(
    "payload",
    [
        b"not json",
        b"[]",
        b'{"v":2,"o":"device"}',
        b'{"v":1}',
        b'{"v":1,"o":"device","s":5,"u":null}',
        b'{"v":1,"o":"device","s":null,"u":null,"b":0,"e":[["k"]]}',
        b'{"v":1,"o":"device","s":null,"u":null,"b":0,"e":[["k",-1,2]]}',
        b'{"v":1,"o":"device","s":null,"u":null,"b":0,"e":[["k",[1,2,3,4],2]]}',
        b'{"v":1,"o":"device","s":null,"u":null,"b":0,"e":[["k",[1,0,"Bad"],2]]}',
    ],
)
def test_decode_delta_refuses_bad_payloads(payload: bytes) -> None:
    with pytest.raises(WireFormatError):
        decode_delta(payload)


@pytest.mark.parametrize("payload", [b"x", b"{}", b'{"v":1,"a":null,"g":true}', b'{"v":1,"a":3}'])
def test_decode_ack_refuses_bad_payloads(payload: bytes) -> None:
    with pytest.raises(WireFormatError):
        decode_ack(payload)


def test_receive_is_idempotent_and_acks_the_contiguous_mark() -> None:
    sender = Document().set("state.brightness", 7, ts(3, 0, C))
    delta = delta_since(sender, None, origin=C)
    got = receive(Document(), PeerMarks(), delta)
    assert got.changed == ["state.brightness"]
    assert got.ack == Ack(ts(3, 0, C))
    again = receive(got.document, got.marks, delta)
    assert again.document == got.document
    assert again.changed == []
    # A delta after a lost one is merged but does not move the mark.
    later = Delta(C, ts(8, 0, C), ts(9, 0, C), {"state.power": Register(False, ts(9, 0, C))})
    gap = receive(got.document, got.marks, later)
    assert gap.ack == Ack(ts(3, 0, C), gap=True)
    assert gap.document.values()["state.power"] is False


def test_receive_checks_drift_and_observes() -> None:
    clock = Hlc(C, lambda: 1_000, max_drift_ms=10)
    far = Delta(D, None, ts(5_000), {"state.power": Register(True, ts(5_000))})
    with pytest.raises(ClockDriftError):
        receive(Document(), PeerMarks(), far, clock=clock)
    near = Delta(D, None, ts(1_005), {"state.power": Register(True, ts(1_005))})
    receive(Document(), PeerMarks(), near, clock=clock)
    assert clock.tick() > ts(1_005)


def test_acks_and_rewind() -> None:
    marks = PeerMarks(sent=ts(9))
    marks = acknowledge(marks, Ack(ts(4)))
    assert (marks.acked, marks.sent) == (ts(4), ts(9))
    assert acknowledge(marks, Ack(ts(2))).acked == ts(4)  # late ack: no regression
    assert acknowledge(marks, Ack(ts(4), gap=True)).sent == ts(4)
    assert rewind(marks).sent == ts(4)
    assert PeerMarks.from_dict(marks.to_dict()) == PeerMarks(None, ts(4), ts(4))


def test_outgoing_advances_sent() -> None:
    doc = Document().set("a", 1, ts(1)).set("b", 2, ts(2, 0, C))
    delta, marks = outgoing(doc, PeerMarks(), origin=D, peer=C)
    assert set(delta.registers) == {"a"}
    assert marks.sent == ts(2, 0, C)
    delta2, _ = outgoing(doc, marks, origin=D, peer=C)
    assert delta2.is_empty


def test_tombstone_is_collected_only_when_both_marks_cover_it() -> None:
    doc = Document().delete("presets", "a", ts(5))
    assert collect_garbage(doc, PeerMarks(received=ts(9, 0, C)))[1] == []
    assert collect_garbage(doc, PeerMarks(received=ts(4, 0, C), acked=ts(9)))[1] == []
    collected, dead = collect_garbage(doc, PeerMarks(received=ts(6, 0, C), acked=ts(5)))
    assert dead == ["presets/a"]
    assert len(collected) == 0


def test_a_late_duplicate_cannot_resurrect_a_collected_entry() -> None:
    # The cloud had preset a (t1); the device deleted it (t5); both acked; device collected.
    old_upsert = Delta(C, None, ts(1, 0, C), {"presets/a": Register({"id": "a"}, ts(1, 0, C))})
    doc = Document().delete("presets", "a", ts(5))
    marks = PeerMarks(received=ts(6, 0, C), acked=ts(5))
    doc, _ = collect_garbage(doc, marks)
    got = receive(doc, marks, old_upsert)
    assert got.document.values() == {}


def test_snapshot_restores_the_document() -> None:
    doc = Document().set("a", {"x": [1]}, ts(1)).delete("presets", "z", ts(4, 2, C))
    doc = doc.without(["presets/z"]).set("b", None, ts(2))
    back = restore(snapshot(doc, origin=D))
    assert back == doc
    assert back.top == ts(4, 2, C)
