"""The Textual app: ``make_app(path)`` builds it for the CLI and for the tests.

Screens: ``MainScreen`` (one run, ``screens/main.py``), ``RunPickerScreen`` (a directory of runs),
``WaitingScreen`` (no snapshot yet), ``HelpScreen``.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import ClassVar, Literal

from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.markup import escape
from textual.notifications import SeverityLevel
from textual.screen import Screen

from evotui.analysis.runs import find_runs
from evotui.watch.alerts import InsightAlerts
from evotui.watch.screens.main import MainScreen
from evotui.watch.service import RunService, TailerFactory
from evotui.watch.tail import DirectoryTailer
from tracker.store import has_run_files

Clock = Callable[[], float]
FirstScreen = Literal["compare", "picker", "run"]  # what the app opens on


# The cyclic collector's thresholds while the app runs (CPython's default is (700, 10, 10)). A full
# collection stops every thread for as long as it walks every tracked object: Textual's widgets, caches
# and rendered lines, ~100,000 objects, 100-250 ms on a busy 2-core machine. At the default, drawing
# alone allocates enough to trigger ~1 full collection a second under live load (bench/load.py, 10,000
# examples at 4 snapshots/s: 59 in 60 s, median 106 ms, a third of the slow keys); with 20,000 young
# objects first there were 2. Memory is not at stake: reference counting frees almost everything, the
# collector only finds cycles. Set once by the app on the UI thread when it starts and restored when it
# ends; no thread turns the collector off.
GC_THRESHOLDS = (20_000, 10, 10)
# Once the first run is on screen, the objects alive then (Textual's widgets, styles, bindings, the modules:
# ~75,000, living as long as the app) are moved to the collector's permanent generation (``gc.freeze``),
# so a full collection no longer walks them: under live load (bench/load.py, 10,000 examples at 4
# snapshots/s) full collections fell from 150-230 ms to ~100 ms, and the worst key in every window from
# 190-300 ms to 130-150 ms. Done once, on the UI thread, and undone (``gc.unfreeze``) when the app ends;
# the collector stays on. Cost: cyclic garbage among those objects is never freed while the app runs
# (Textual makes most of its cyclic garbage later: each rendered line caches itself, see Strip.divide).


class EvotuiApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "evotui"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("ctrl+c", "quit", "Quit", show=False, priority=True)]

    def __init__(
        self,
        path: str | Path,
        interval: float = 0.5,
        clock: Clock = time.time,
        tailer_factory: TailerFactory = DirectoryTailer,
        bell: bool = False,
        alerts: str | Path | None = None,
        compare: Sequence[str | Path] = (),
    ) -> None:
        super().__init__()
        self.path = Path(path)
        # Which insights were announced (once each), the bell and the alerts file: the session's, not a screen's.
        self.insight_alerts = InsightAlerts(Path(alerts) if alerts is not None else None, bell=bell, clock=clock)
        # `evotui watch A B ...`: runs compared with ``path`` (A) on the compare screen.
        self.compare_paths = [Path(p) for p in compare]
        self.interval = interval
        self.clock = clock
        self.tailer_factory = tailer_factory  # the tailing itself, injectable (tests: a tailer that fails)
        # Open runs: path -> (service, how many holders). The App owns every service (see service.py).
        self._runs: dict[Path, tuple[RunService, int]] = {}
        self._started = False
        self._gc_thresholds = gc.get_threshold()  # restored when the app ends
        self._froze = False  # ``freeze_startup_objects`` done (undone when the app ends)
        self._opening: FirstScreen | None = None  # ``_first_screen``, decided once
        # Start reading the run right away, while Textual starts: the first screen comes sooner.
        if has_run_files(self.path):
            self.open_run(self.path)
            self.services[0].start()

    @property
    def services(self) -> list[RunService]:
        """The open runs' services, in the order they were opened."""
        return [service for service, _ in self._runs.values()]

    def open_run(self, path: Path) -> RunService:
        """The service of the run in ``path``: the running one when already open, else a new one.

        Each call is one holder: call ``close_run(path)`` once when done with it. The service runs until
        its last holder closes it or the app ends.
        """
        key = Path(path).absolute()
        if key in self._runs:
            service, holders = self._runs[key]
            self._runs[key] = (service, holders + 1)
            return service
        service = RunService(path, interval=self.interval, tailer_factory=self.tailer_factory)
        self._runs[key] = (service, 1)
        if self._started:
            service.start()
        return service

    def close_run(self, path: Path) -> None:
        """One holder of the run in ``path`` is done with it; the last one stops its service."""
        key = Path(path).absolute()
        if key not in self._runs:
            return
        service, holders = self._runs[key]
        if holders > 1:
            self._runs[key] = (service, holders - 1)
        else:
            del self._runs[key]
            service.close()

    def get_default_screen(self) -> Screen:
        """The first screen (Textual asks before the app mounts): the run's main screen when DIR holds
        snapshots already, else Textual's blank one, which ``on_mount`` covers with the right screen (the
        comparison, the run picker, or the main screen of a run yet to come, which may turn out to be a
        directory of runs and give way to the picker). Not pushed over the blank screen: that laid out two
        screens before the first frame (~17 ms of a 0.4 s cold start)."""
        if self._first_screen() == "run" and self._runs:  # the run's service opened in __init__: files there
            return MainScreen(self.path, self.clock)
        return super().get_default_screen()

    def _first_screen(self) -> FirstScreen:
        """What the app opens on: runs compared, the run picker (a directory of runs) or one run."""
        if self._opening is None:
            if self.compare_paths:
                self._opening = "compare"
            elif not self._runs and self.path.is_dir() and self._has_subruns():
                self._opening = "picker"
            else:
                self._opening = "run"
        return self._opening

    def on_mount(self) -> None:
        self._started = True
        self._gc_thresholds = gc.get_threshold()
        gc.set_threshold(*GC_THRESHOLDS)
        for service in self.services:
            service.start()
        if self._first_screen() == "compare":
            self.show_comparison([self.path, *self.compare_paths])
        elif self._first_screen() == "picker":
            self.show_run_picker(self.path)
        elif not isinstance(self.screen, MainScreen):
            self.push_screen(MainScreen(self.path, self.clock))

    def on_unmount(self) -> None:
        for service in self.services:
            service.close()
        self._runs.clear()
        gc.set_threshold(*self._gc_thresholds)
        if self._froze:
            gc.unfreeze()
            self._froze = False

    def freeze_startup_objects(self) -> None:
        """Once, when a run is first on screen: see ``GC_THRESHOLDS`` (the objects alive now are not walked
        by later full collections). Later calls do nothing."""
        if not self._froze and self.is_running:
            self._froze = True
            gc.freeze()

    def _has_subruns(self) -> bool:
        from tracker.store import list_snapshot_files

        try:
            if list_snapshot_files(self.path):
                return False
        except OSError:
            return False
        return bool(find_runs(self.path))

    def show_run_picker(self, path: Path) -> None:
        from evotui.watch.screens.run_picker import RunPickerScreen  # DataTable: imported only when needed

        if isinstance(self.screen, RunPickerScreen):
            return
        while len(self.screen_stack) > 1:
            self.pop_screen()
        self.push_screen(RunPickerScreen(path, self.clock))

    def show_run(self, path: Path) -> None:
        """The main screen for the run in ``path`` (from the run picker: esc goes back to it)."""
        self.push_screen(MainScreen(path, self.clock, from_picker=True))

    def show_comparison(self, paths: Sequence[Path], from_picker: bool = False) -> None:
        """The compare screen for the runs in ``paths`` (the first is A); from the run picker, esc goes back."""
        from evotui.watch.screens.compare_runs import CompareRunsScreen  # imported only when comparing

        self.push_screen(CompareRunsScreen(paths, self.clock, from_picker=from_picker))

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None:
        """Every toast is one line over the footer (see app.tcss): a title leads its message on that line."""
        if title:
            message = f"{escape(title) if markup else title}: {message}"
        super().notify(message, severity=severity, timeout=timeout, markup=markup)

    def action_help(self) -> None:
        from evotui.watch.screens.help import HelpScreen  # Markdown: imported only when asked for

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Help", "Keys and what the columns mean", self.action_help)
        screen_commands = getattr(screen, "system_commands", None)  # screens with their own entries
        if screen_commands is not None:
            yield from screen_commands()
        if isinstance(screen, MainScreen):
            for title, help_text, callback in screen.palette_commands():
                yield SystemCommand(title, help_text, callback)


def make_app(
    path: str | Path,
    interval: float = 0.5,
    clock: Clock = time.time,
    tailer_factory: TailerFactory = DirectoryTailer,
    bell: bool = False,
    alerts: str | Path | None = None,
    compare: Sequence[str | Path] = (),
) -> EvotuiApp:
    """The app for ``evotui watch PATH``; tests pass a frozen ``clock``, a short ``interval`` and, to
    check the failure path, a ``tailer_factory`` whose tailer fails. ``bell`` and ``alerts`` (a file):
    how new insights are announced besides a notification (``evotui.watch.alerts``). ``compare``: more
    run directories, compared with ``path`` on the compare screen."""
    return EvotuiApp(
        path, interval=interval, clock=clock, tailer_factory=tailer_factory, bell=bell, alerts=alerts, compare=compare
    )
