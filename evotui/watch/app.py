"""The Textual app: ``make_app(path)`` builds it for the CLI and for the tests.

Screens: ``MainScreen`` (one run, ``screens/main.py``), ``RunPickerScreen`` (a directory of runs),
``WaitingScreen`` (no snapshot yet), ``HelpScreen``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import ClassVar

from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.markup import escape
from textual.notifications import SeverityLevel
from textual.screen import Screen

from evotui.analysis.runs import find_runs
from evotui.watch.screens.main import MainScreen
from evotui.watch.tail import (
    FirstLoad,
    LoadProgress,
    first_load,
)
from tracker.store import has_run_files

Clock = Callable[[], float]


class EvotuiApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "evotui"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("ctrl+c", "quit", "Quit", show=False, priority=True)]

    def __init__(self, path: str | Path, interval: float = 0.5, clock: Clock = time.time) -> None:
        super().__init__()
        self.path = Path(path)
        self.interval = interval
        self.clock = clock
        # Start reading a run right away, while Textual starts: the first screen comes sooner.
        self._prefetch: Future[FirstLoad] | None = None
        self._progress = LoadProgress()
        if has_run_files(self.path):
            executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="evotui-prefetch")
            self._prefetch = executor.submit(first_load, self.path, self._progress)
            executor.shutdown(wait=False)

    def on_mount(self) -> None:
        if self._prefetch is None and self.path.is_dir() and self._has_subruns():
            self.show_run_picker(self.path)
        else:
            self.push_screen(
                MainScreen(self.path, self.interval, self.clock, prefetch=self._prefetch, progress=self._progress)
            )
            self._prefetch = None

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

    def open_run(self, path: Path) -> None:
        self.push_screen(MainScreen(path, self.interval, self.clock, from_picker=True))

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
        if isinstance(screen, MainScreen):
            for title, help_text, callback in screen.palette_commands():
                yield SystemCommand(title, help_text, callback)


def make_app(path: str | Path, interval: float = 0.5, clock: Clock = time.time) -> EvotuiApp:
    """The app for ``evotui watch PATH``; tests pass a frozen ``clock`` and a short ``interval``."""
    return EvotuiApp(path, interval=interval, clock=clock)
