from __future__ import annotations

import pytest

from tracker.schedule import DEFAULT_STEPS, make_schedule


def test_default_schedule_is_the_seeds() -> None:
    schedule = make_schedule()
    assert schedule.steps_until(20000) == list(DEFAULT_STEPS)
    assert schedule.steps_until(23500)[-4:] == [20000, 21000, 22000, 23000]
    assert not schedule.should_capture(20500) and not schedule.should_capture(-1)
    assert DEFAULT_STEPS[:8] == (0, 10, 25, 50, 100, 150, 200, 250)


def test_every_n_list_and_callable() -> None:
    assert make_schedule("every 25").steps_until(100) == [0, 25, 50, 75, 100]
    assert make_schedule(50).steps_until(120) == [0, 50, 100]
    assert make_schedule([3, 1, 3]).steps_until(10) == [1, 3]
    assert make_schedule(lambda s: s % 7 == 0).steps_until(15) == [0, 7, 14]
    assert make_schedule("default").description == "default"


@pytest.mark.parametrize("bad", ["every", "every -3", "sometimes", 0, -5, [-1]])
def test_bad_schedules_are_refused_clearly(bad: object) -> None:
    with pytest.raises(ValueError):
        make_schedule(bad)  # type: ignore[arg-type]
