from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from lightbox.sync import TOMBSTONE, Change, Document, Register, Timestamp, wins
from tests.sync.strategies import documents, registers

D = "device"
C = "cloud"


@given(documents(), documents())
def test_merge_is_commutative(a: Document, b: Document) -> None:
    assert a.merge(b) == b.merge(a)


@given(documents(), documents(), documents())
def test_merge_is_associative(a: Document, b: Document, c: Document) -> None:
    assert a.merge(b).merge(c) == a.merge(b.merge(c))


@given(documents(), documents())
def test_merge_is_idempotent(a: Document, b: Document) -> None:
    assert a.merge(a) == a
    ab = a.merge(b)
    assert ab.merge(b) == ab
    assert ab.merge(a) == ab


@given(documents(), documents())
def test_merge_is_an_upper_bound(a: Document, b: Document) -> None:
    ab = a.merge(b)
    for doc in (a, b):
        for key, reg in doc.registers.items():
            merged = ab.get(key)
            assert merged is not None
            assert merged == reg or wins(merged, reg)


@given(st.sampled_from(["presets/a", "state.scene"]).flatmap(registers), documents())
def test_apply_in_any_order_gives_the_same_document(reg: Register, doc: Document) -> None:
    other = Document({"presets/a": reg})
    one, _ = doc.apply(other.registers)
    two = other.merge(doc)
    assert one == two


def test_later_edit_wins_by_timestamp_not_by_arrival() -> None:
    doc = Document().set("state.brightness", 10, Timestamp(5, 0, C))
    doc = doc.set("state.brightness", 99, Timestamp(4, 9, D))  # older, arrives later
    assert doc.values() == {"state.brightness": 10}


def test_exact_tie_goes_to_the_device() -> None:
    doc = Document().set("state.power", False, Timestamp(5, 0, C))
    doc = doc.set("state.power", True, Timestamp(5, 0, D))
    assert doc.values() == {"state.power": True}


def test_tombstone_hides_an_entry_and_a_later_upsert_revives_it() -> None:
    doc = Document().set("presets/a", {"id": "a"}, Timestamp(1, 0, D))
    doc = doc.delete("presets", "a", Timestamp(2, 0, C))
    assert doc.values() == {}
    assert doc.tombstones() == {"presets/a": Timestamp(2, 0, C)}
    doc2, changed = doc.apply({"presets/a": Register({"id": "a", "n": 2}, Timestamp(3, 0, D))})
    assert changed == ["presets/a"]
    assert doc2.values() == {"presets/a": {"id": "a", "n": 2}}
    # An older upsert loses to the tombstone.
    doc3, changed = doc.apply({"presets/a": Register({"id": "a"}, Timestamp(1, 5, D))})
    assert changed == []
    assert doc3 == doc


def test_apply_reports_visible_changes_only() -> None:
    doc = Document().set("state.brightness", 10, Timestamp(1, 0, D))
    same_value, changed = doc.apply({"state.brightness": Register(10, Timestamp(2, 0, C))})
    assert changed == []
    assert same_value.get("state.brightness") == Register(10, Timestamp(2, 0, C))
    _, changed = doc.apply({"presets/x": Register(TOMBSTONE, Timestamp(2, 0, C))})
    assert changed == []


def test_record_stamps_one_edit_with_one_timestamp() -> None:
    ts = Timestamp(7, 0, D)
    doc = Document().record(
        [Change("state.scene", {"type": "solid"}), Change("state.preset", "p")], ts
    )
    assert {r.ts for r in doc.registers.values()} == {ts}
    assert doc.top == ts


def test_top_survives_removing_tombstones() -> None:
    doc = Document().delete("presets", "a", Timestamp(9, 0, C))
    assert doc.without(["presets/a"]).top == Timestamp(9, 0, C)
    assert len(doc.without(["presets/a"])) == 0
