"""When to capture: the seed's default schedule, "every N", an explicit list, or a callable."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Union

# The seed's schedule: dense early, when most examples are learned, then sparser.
DEFAULT_STEPS: tuple[int, ...] = (
    0, 10, 25, 50, 100, 150, 200, 250,
    500, 750, 1000,
    1500, 2000, 2500, 3000, 4000, 5000,
    7500, 10000, 15000, 20000,
)  # fmt: skip
DEFAULT_EVERY_AFTER = 1000  # then every 1000 steps after the last listed step


@dataclass(frozen=True)
class Schedule:
    """A set of listed steps, plus optionally every ``every`` steps after ``every_after``."""

    steps: frozenset[int] = frozenset()
    every: int | None = None
    every_after: int = 0
    predicate: Callable[[int], bool] | None = field(default=None, compare=False)
    description: str = ""

    def should_capture(self, step: int) -> bool:
        if step < 0:
            return False
        if self.predicate is not None:
            return bool(self.predicate(step))
        if step in self.steps:
            return True
        return self.every is not None and step > self.every_after and step % self.every == 0

    def __call__(self, step: int) -> bool:
        return self.should_capture(step)

    def steps_until(self, max_step: int) -> list[int]:
        """Every scheduled step in 0..max_step (for tests and progress displays)."""
        return [s for s in range(max_step + 1) if self.should_capture(s)]


ScheduleSpec = Union[None, str, int, Iterable[int], Callable[[int], bool], Schedule]  # noqa: UP007


def default_schedule() -> Schedule:
    return Schedule(
        steps=frozenset(DEFAULT_STEPS),
        every=DEFAULT_EVERY_AFTER,
        every_after=DEFAULT_STEPS[-1],
        description="default",
    )


def make_schedule(spec: ScheduleSpec = None) -> Schedule:
    """Build a Schedule from None/"default", "every N", an int N (every N), a list of steps or a callable.

    "every N" and an int always include step 0, so every run has its baseline.
    """
    if spec is None or isinstance(spec, Schedule):
        return spec or default_schedule()
    if isinstance(spec, str):
        text = spec.strip().lower()
        if text == "default":
            return default_schedule()
        parts = text.split()
        if len(parts) == 2 and parts[0] == "every" and parts[1].isdigit() and int(parts[1]) > 0:
            return _every(int(parts[1]))
        raise ValueError(f"unknown schedule {spec!r}: use 'default', 'every N', a list of steps or a callable")
    if isinstance(spec, bool):
        raise TypeError("a schedule cannot be a bool")
    if isinstance(spec, int):
        if spec <= 0:
            raise ValueError(f"'every N' needs N > 0, got {spec}")
        return _every(spec)
    if callable(spec):
        name = getattr(spec, "__name__", type(spec).__name__)
        return Schedule(predicate=spec, description=f"callable {name}")
    steps = frozenset(int(s) for s in spec)
    if any(s < 0 for s in steps):
        raise ValueError("schedule steps must be >= 0")
    listed = ", ".join(str(s) for s in sorted(steps)[:8]) + (", ..." if len(steps) > 8 else "")
    return Schedule(steps=steps, description=f"steps {listed}")


def _every(n: int) -> Schedule:
    return Schedule(steps=frozenset({0}), every=n, every_after=0, description=f"every {n}")
