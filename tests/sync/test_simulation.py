from __future__ import annotations

import pytest

from tests.sync.simulation import run_many


def report(capsys: pytest.CaptureFixture[str], schedules: int, edits: int) -> None:
    with capsys.disabled():
        print(f"\nsync model: checked {schedules} schedules, {edits} edits, converged")


def test_random_schedules_converge_without_lost_edits(capsys: pytest.CaptureFixture[str]) -> None:
    schedules, edits = run_many(1200, 300)
    report(capsys, schedules, edits)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_many_long_random_schedules(capsys: pytest.CaptureFixture[str]) -> None:
    schedules, edits = run_many(4000, 500, seed=7)
    report(capsys, schedules, edits)
