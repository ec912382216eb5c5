"""Which insights a person has been told about: notifications, the terminal bell and the alerts file.

No textual here: ``MainScreen`` asks ``InsightAlerts.take`` for each new view of its run and shows what
comes back. Rules (README "Insights and alerts"):

* An insight is announced once per (key, severity): the same regression seen again in the next view is
  not news; a pathology that grows from warning to critical is. Only severity warning and above.
* The insights already there when a run is first shown (opening a finished run, restarting the viewer)
  are not "found as snapshots arrive": they get one summary notification, and no bell.
* ``--alerts FILE`` appends each announced insight as one JSON line: ``time``, ``run`` (the directory)
  and the insight's fields (``kind, severity, step, message, example_ids, key, p_value, data``). The
  file is read when a run is first shown, so an insight already in it for that run is not written
  again: once per insight, also across restarts (a script can tail the file safely).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the insights module (numpy, statistics) is imported when there are insights to take
    from evotui.analysis.insights import Insight

ALERT_SEVERITY = "warning"  # a Severity value: announced from this one up


@dataclass(frozen=True)
class AlertBatch:
    new: list[Insight]  # not announced before, at or above the alert severity
    initial: bool  # the run's first view with insights in this session: summarise, do not ring


@dataclass
class InsightAlerts:
    path: Path | None = None  # --alerts FILE
    bell: bool = False  # --bell
    clock: Callable[[], float] = field(default=lambda: datetime.now(timezone.utc).timestamp())
    _seen: dict[Path, set[tuple[str, str]]] = field(default_factory=dict)
    _written: dict[Path, set[tuple[str, str]]] = field(default_factory=dict)
    problem: str = ""  # the alerts file could not be written (shown once by the screen)

    def take(self, run: Path, insights: Sequence[Insight]) -> AlertBatch:
        """The insights of ``run`` to announce now (and append to the alerts file)."""
        from evotui.analysis.insights import Severity

        key = Path(run).absolute()
        initial = key not in self._seen
        seen = self._seen.setdefault(key, set())
        least = Severity(ALERT_SEVERITY).rank
        new = [x for x in insights if x.severity.rank >= least and (x.key, x.severity.value) not in seen]
        seen.update((x.key, x.severity.value) for x in new)
        if new and self.path is not None:
            self._append(key, new)
        return AlertBatch(new, initial)

    def _already_written(self, run: Path) -> set[tuple[str, str]]:
        if run not in self._written:
            done: set[tuple[str, str]] = set()
            try:
                with open(self.path, encoding="utf-8") as fh:  # type: ignore[arg-type]
                    for line in fh:
                        try:
                            record = json.loads(line)
                        except ValueError:
                            continue  # a line cut by a crash, or someone else's
                        if isinstance(record, dict) and record.get("run") == str(run):
                            done.add((str(record.get("key")), str(record.get("severity"))))
            except FileNotFoundError:
                pass
            except OSError as exc:
                self.problem = f"cannot read {self.path}: {exc.strerror or exc}"
            self._written[run] = done
        return self._written[run]

    def _append(self, run: Path, insights: list[Insight]) -> None:
        assert self.path is not None
        done = self._already_written(run)
        moment = datetime.fromtimestamp(self.clock(), tz=timezone.utc).isoformat(timespec="seconds")
        lines: list[str] = []
        for x in insights:
            ident = (x.key, x.severity.value)
            if ident in done:
                continue
            done.add(ident)
            record: dict[str, Any] = {"time": moment.replace("+00:00", "Z"), "run": str(run), **x.to_dict()}
            lines.append(json.dumps(record, ensure_ascii=False, allow_nan=False) + "\n")
        if not lines:
            return
        try:
            # One write per batch, appended: another reader never sees half a line from us.
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, "".join(lines).encode("utf-8"))
            finally:
                os.close(fd)
        except OSError as exc:
            self.problem = f"cannot write {self.path}: {exc.strerror or exc}"
