"""Pairing codes: format, normalisation, single use, expiry, replacement, attempt limit."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from lightbox.edge.pairing import (
    ALPHABET,
    FAILURE_WINDOW,
    MAX_FAILURES,
    Pairing,
    PairingError,
    normalize_code,
)
from lightbox.edge.store import Store


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(tmp_path / "lightbox.db") as s:
        yield s


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def pairing(store: Store, clock: FakeClock) -> Pairing:
    return Pairing(store, clock=clock)


def _wrong(code: str) -> str:
    """A well-formed code that differs from ``code``."""
    first = code[0]
    return ("1" if first != "1" else "2") + code[1:]


def test_code_format(pairing: Pairing) -> None:
    codes = {pairing.issue() for _ in range(20)}
    assert len(codes) == 20
    for code in codes:
        assert len(code) == 9 and code[4] == "-"
        assert all(c in ALPHABET for c in code.replace("-", ""))


def test_code_is_stored_hashed(pairing: Pairing, store: Store) -> None:
    code = pairing.issue()
    raw = store.get_meta("pairing.code") or ""
    assert code.replace("-", "") not in raw.upper()
    assert code not in raw


def test_redeem_creates_a_working_token(pairing: Pairing, store: Store) -> None:
    code = pairing.issue()
    info, token = pairing.redeem(code, "phone")
    assert info.name == "phone"
    assert [t.id for t in store.list_tokens()] == [info.id]
    verified = store.verify_token(token)
    assert verified is not None and verified.id == info.id


@pytest.mark.parametrize(
    "typed",
    [
        lambda c: c.lower(),
        lambda c: c.replace("-", ""),
        lambda c: f"  {c[:2]} {c[2:]} ",
        lambda c: c.replace("0", "o").replace("1", "i"),
        lambda c: c.replace("1", "l"),
    ],
)
def test_typed_codes_are_normalised(pairing: Pairing, typed: object) -> None:
    code = pairing.issue()
    assert callable(typed)
    pairing.redeem(typed(code), "phone")


def test_normalize_rejects_non_codes() -> None:
    assert normalize_code("ABCD-EFGH") == "ABCDEFGH"
    assert normalize_code("abcd-efgu") is None  # U is not in the alphabet
    assert normalize_code("ABCD-EFG") is None
    assert normalize_code("") is None
    assert normalize_code("ABCD-EFGH-J") is None


def test_single_use(pairing: Pairing) -> None:
    code = pairing.issue()
    pairing.redeem(code, "phone")
    with pytest.raises(PairingError) as caught:
        pairing.redeem(code, "laptop")
    assert caught.value.code == "pairing_invalid"


def test_expired(pairing: Pairing, clock: FakeClock, store: Store) -> None:
    code = pairing.issue(ttl_s=60)
    assert pairing.pending_until() == clock.now + timedelta(seconds=60)
    clock.advance(61)
    assert pairing.pending_until() is None
    with pytest.raises(PairingError) as caught:
        pairing.redeem(code, "phone")
    assert caught.value.code == "pairing_expired"
    assert store.list_tokens() == []
    # an expired code is cleared: trying it again is just invalid
    with pytest.raises(PairingError) as again:
        pairing.redeem(code, "phone")
    assert again.value.code == "pairing_invalid"


def test_new_code_voids_the_previous(pairing: Pairing) -> None:
    first = pairing.issue()
    second = pairing.issue()
    with pytest.raises(PairingError) as caught:
        pairing.redeem(first, "phone")
    assert caught.value.code == "pairing_invalid"
    pairing.redeem(second, "phone")


def test_no_code_pending(pairing: Pairing) -> None:
    with pytest.raises(PairingError) as caught:
        pairing.redeem("ABCD-EFGH", "phone")
    assert caught.value.code == "pairing_invalid"


def test_cancel(pairing: Pairing) -> None:
    code = pairing.issue()
    pairing.cancel()
    assert pairing.pending_until() is None
    with pytest.raises(PairingError):
        pairing.redeem(code, "phone")


def test_bad_arguments(pairing: Pairing) -> None:
    with pytest.raises(ValueError, match="ttl_s"):
        pairing.issue(ttl_s=0)
    code = pairing.issue()
    with pytest.raises(ValueError, match="name"):
        pairing.redeem(code, "  ")
    pairing.redeem(code, "ok")  # a bad name does not use the code up


def test_attempt_limit_survives_a_restart(tmp_path: Path, store: Store, clock: FakeClock) -> None:
    pairing = Pairing(store, clock=clock)
    code = pairing.issue(ttl_s=3600)
    for _ in range(MAX_FAILURES):
        with pytest.raises(PairingError) as caught:
            pairing.redeem(_wrong(code), "attacker")
        assert caught.value.code == "pairing_invalid"
        clock.advance(1)
    store.close()

    with Store.open(tmp_path / "lightbox.db") as reopened:
        again = Pairing(reopened, clock=clock)
        # even the right code is refused while the limit holds
        with pytest.raises(PairingError) as caught:
            again.redeem(code, "phone")
        assert caught.value.code == "rate_limited"
        retry_after = caught.value.retry_after
        assert retry_after is not None
        expected = FAILURE_WINDOW.total_seconds() - MAX_FAILURES
        assert expected - 1 <= retry_after <= expected + 1
        # once the oldest failure leaves the window, one more attempt is allowed
        clock.advance(retry_after)
        info, _ = again.redeem(code, "phone")
        assert info.name == "phone"


def test_success_resets_the_failures(pairing: Pairing, clock: FakeClock) -> None:
    code = pairing.issue()
    for _ in range(MAX_FAILURES - 1):
        with pytest.raises(PairingError):
            pairing.redeem(_wrong(code), "x")
    pairing.redeem(code, "phone")
    code = pairing.issue()
    for _ in range(MAX_FAILURES - 1):
        with pytest.raises(PairingError) as caught:
            pairing.redeem(_wrong(code), "x")
        assert caught.value.code == "pairing_invalid"


def test_malformed_codes_count_as_failures(pairing: Pairing) -> None:
    code = pairing.issue()
    for _ in range(MAX_FAILURES):
        with pytest.raises(PairingError):
            pairing.redeem("nope", "x")
    with pytest.raises(PairingError) as caught:
        pairing.redeem(code, "phone")
    assert caught.value.code == "rate_limited"


def test_concurrent_redeems_give_one_token(pairing: Pairing, store: Store) -> None:
    code = pairing.issue()
    results: list[str] = []
    barrier = threading.Barrier(4)

    def attempt(i: int) -> None:
        barrier.wait()
        try:
            pairing.redeem(code, f"client {i}")
            results.append("ok")
        except PairingError as err:
            results.append(err.code)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert sorted(results) == ["ok"] + ["pairing_invalid"] * 3
    assert len(store.list_tokens()) == 1


def test_naive_clock_is_refused(store: Store) -> None:
    pairing = Pairing(store, clock=lambda: datetime(2025, 1, 1))
    with pytest.raises(ValueError, match="aware"):
        pairing.issue()


def test_cli_pair_code(tmp_path: Path) -> None:
    import typer
    from typer.testing import CliRunner

    from lightbox.cli.edge_pairing import pair_code

    app = typer.Typer()
    app.command("pair-code")(pair_code)
    app.command("other")(lambda: None)  # a group, so that "pair-code" is a subcommand
    result = CliRunner().invoke(app, ["pair-code", "--data-dir", str(tmp_path), "--ttl", "60"])
    assert result.exit_code == 0, result.output
    code = result.stdout.strip().splitlines()[0]
    with Store.open(tmp_path / "lightbox.db") as store:
        info, _ = Pairing(store).redeem(code, "phone")
    assert info.name == "phone"
