"""The training-dynamics side of the main screen: step travel, data map, regressions, compare, export.

A mixin for ``MainScreen`` (which owns ``state``, ``query_state``, ``rows`` and ``refresh_table``), so
the watch screen itself only lists the bindings. Step travel shows the table as of an earlier
snapshot: outputs, loss and similarity at that step, and statuses judged by the snapshots up to it.
Those statuses are the dynamics over the snapshots up to that step: O(examples x steps), so they are
computed in a thread (one at a time, the latest wish wins) and cached; the key's screen update is the
filter bar's "as of step ..." note, and the table fills in when they are ready.
"""

from __future__ import annotations

import bisect
import io
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual.binding import Binding, BindingType

from evotui.watch.failure_log import record_failure
from evotui.watch.messages import TravelComputed

# The screens are imported when first opened (as the watch screen does for help and the run picker):
# the app starts without them.

if TYPE_CHECKING:
    from evotui.analysis.dynamics import RunDynamics
    from evotui.analysis.history import StepColumn
    from evotui.analysis.table import TableQuery, TableRows
    from evotui.watch.service import RunView

# Step travel replays at most this many (example x snapshot) cells on the UI thread (a few ms); more goes
# to a thread. Small runs (and the tests) then travel at once, a 10,000-example run in the background.
SYNC_TRAVEL_CELLS = 40_000
TravelKey = tuple[int, int, tuple["StepColumn", ...]]  # (step, examples, the columns up to the step)


def _same_key(a: TravelKey, b: TravelKey) -> bool:
    """Same step, same examples, the very same column objects (a rewritten file makes a new column)."""
    if a[0] != b[0] or a[1] != b[1] or len(a[2]) != len(b[2]):
        return False
    return all(x is y for x, y in zip(a[2], b[2], strict=True))


DYNAMICS_BINDINGS: list[BindingType] = [
    Binding("left_square_bracket", "older", "Step", key_display="[ ]", tooltip="Older / newer snapshot"),
    Binding("right_square_bracket", "newer", "Newer", show=False),
    Binding("t", "pick_step", "Go to step", show=False),
    Binding("m", "data_map", "Map", tooltip="Data map"),
    Binding("r", "regressions", "Regressions", show=False),
    Binding("c", "compare", "Compare", show=False),
    Binding("e", "export", "Export", show=False),
]


def regression_steps(dynamics: RunDynamics | None) -> list[int]:
    """The steps marked red on the accuracy sparkline: regressions where accuracy fell.

    Regressions by forgetting alone are listed (``r``) but not marked: on a real run most snapshots
    forget some example (the toy run: 31 of 32), and a sparkline that is red everywhere says nothing.
    """
    if dynamics is None:
        return []
    return [r.step for r in dynamics.regressions if r.accuracy_change < 0]


class DynamicsActions:
    """Mixed into ``MainScreen``."""

    state: RunView
    query_state: TableQuery
    rows: TableRows | None
    # Dynamics as of travelled steps: (step, examples, the columns up to it) -> dynamics; a few kept.
    _travel_cache: list[tuple[TravelKey, RunDynamics]]
    _travel_running: TravelKey | None = None  # computing in a thread now
    last_export: tuple[Path, int] | None = None  # (file, rows) of the last export that finished

    if TYPE_CHECKING:
        app: Any

        def refresh_table(self, follow: bool = False) -> None: ...
        def _show_detail(self) -> None: ...
        def _schedule_detail(self) -> None: ...
        def action_quick(self, key: str) -> None: ...
        def notify(self, message: str, **kwargs: Any) -> None: ...
        def run_worker(self, work: Any, **kwargs: Any) -> Any: ...
        def post_message(self, message: Any) -> bool: ...

    # -- step travel ---------------------------------------------------------------------------------
    @property
    def view_step(self) -> int | None:
        """The step the table shows when it is not the latest (None: following the run live)."""
        step = self.query_state.step
        history = self.state.history
        return step if step is not None and step in history.columns and step != history.latest_step else None

    def view_dynamics(self) -> RunDynamics | None:
        """The dynamics as of the viewed step (the run's own when following live).

        None while a travelled step's are still being computed (``travel_pending``): they are asked
        for here and arrive as ``TravelComputed``.
        """
        step = self.view_step
        if step is None:
            return self.state.dynamics
        key = self._travel_key(step)
        for cached_key, dynamics in self._travel_entries():
            if _same_key(cached_key, key):
                return dynamics
        return self._compute_travel(key)

    @property
    def travel_pending(self) -> bool:
        """Travelled to a step whose dynamics are not ready yet (the run has dynamics at all)."""
        return self.view_step is not None and self.state.dynamics is not None and self.view_dynamics() is None

    def _travel_entries(self) -> list[tuple[TravelKey, RunDynamics]]:
        if "_travel_cache" not in self.__dict__:
            self._travel_cache = []
        return self._travel_cache

    def _travel_key(self, step: int) -> TravelKey:
        history = self.state.history
        up_to = history.steps[: bisect.bisect_right(history.steps, step)]
        return (step, history.n_examples, tuple(history.columns[s] for s in up_to))

    def _compute_travel(self, key: TravelKey) -> RunDynamics | None:
        """The dynamics for ``key`` now when that is cheap (a small run: no "computing" state at all),
        else started in a thread (or queued behind the running one) and None until they arrive."""
        # A frozen view and its dynamics checkpoints: safe to read from the thread.
        history, checkpoints = self.state.history, self.state.checkpoints
        replay = len(key[2]) - max((c[0] for c in checkpoints if c[0] <= len(key[2])), default=0)
        if replay * history.n_examples <= SYNC_TRAVEL_CELLS:
            from evotui.analysis.dynamics import compute_dynamics

            dynamics = compute_dynamics(history, until_step=key[0], checkpoints=checkpoints)
            self._remember_travel(key, dynamics)
            return dynamics
        if self._travel_running is not None:
            return None  # when it is done, the step viewed then is asked for (``on_travel_computed``)
        self._travel_running = key

        def compute() -> None:
            from evotui.analysis.dynamics import compute_dynamics

            dynamics, error = None, None
            try:
                dynamics = compute_dynamics(history, until_step=key[0], checkpoints=checkpoints)
            except Exception as exc:  # shown and logged, never silent
                log = record_failure(f"dynamics as of step {key[0]}", exc)
                error = f"{type(exc).__name__}: {exc}" + (f" (log: {log})" if log else "")
            self.post_message(TravelComputed(key, dynamics, error))

        self.run_worker(compute, thread=True, group="travel", exit_on_error=False, description="dynamics as of a step")

    def _remember_travel(self, key: TravelKey, dynamics: RunDynamics) -> None:
        entries = self._travel_entries()
        entries.append((key, dynamics))
        del entries[:-4]  # a few steps back and forth; each holds O(examples) arrays

    def on_travel_computed(self, message: TravelComputed) -> None:
        self._travel_running = None
        if message.error is not None:
            self.notify(message.error, title="step travel failed", severity="error", markup=False)
        elif message.dynamics is not None:
            self._remember_travel(message.key, message.dynamics)
        step = self.view_step
        if step is None or message.error is not None:
            return
        if _same_key(message.key, self._travel_key(step)):
            self.refresh_table(follow=True)
            self._schedule_detail()
        else:
            self.view_dynamics()  # another step (or new data) meanwhile: compute that one now

    def travel_note(self) -> str:
        step = self.view_step
        # An insight's evidence shown (``i``, then enter): say which, and how to leave it.
        only = f"{self.query_state.only_label} (esc: all)" if self.query_state.only is not None else ""
        if step is None:
            return only
        note = f"as of step {step:,} (computing…)" if self.travel_pending else f"as of step {step:,} (esc: latest)"
        return f"{note} · {only}" if only else note

    def travel_to(self, step: int | None) -> None:
        """Show the table as of ``step``; the latest step (or None) follows the run live again."""
        history = self.state.history
        if step is not None and (step not in history.columns or step == history.latest_step):
            step = None
        self.query_state.step = step
        self.refresh_table(follow=True)
        # The detail pane (plot, long history: the costly redraw) follows a moment later, like a cursor
        # move: the key's own screen update is the table and the "as of step" note.
        self._schedule_detail()

    def _current_step(self) -> int | None:
        return self.view_step if self.view_step is not None else self.state.history.latest_step

    def action_older(self) -> None:
        steps, current = self.state.history.steps, self._current_step()
        if current is None or current not in steps or steps.index(current) == 0:
            self.app.bell()
            return
        self.travel_to(steps[steps.index(current) - 1])

    def action_newer(self) -> None:
        if self.view_step is None:
            self.app.bell()
            return
        steps = self.state.history.steps
        self.travel_to(steps[steps.index(self.view_step) + 1])

    def _still_reading(self) -> bool:
        """The run's snapshots or their analysis are not there yet: say so (a key must never do nothing)."""
        if self.state.dynamics is not None and self.rows is not None:
            return False
        self.notify("still reading the run: try again in a moment", severity="warning", timeout=3)
        return True

    def action_pick_step(self) -> None:
        from evotui.watch.screens.step_picker import StepPickerScreen

        if self._still_reading() or self.state.dynamics is None:
            return
        self.app.push_screen(StepPickerScreen(self.state.dynamics, self._current_step()), self._travel_if_chosen)

    # -- data map, regressions -----------------------------------------------------------------------
    def action_data_map(self) -> None:
        from evotui.watch.screens.data_map import DataMapScreen

        dynamics = self.view_dynamics()
        if self._still_reading():
            return
        if dynamics is None:
            if self.travel_pending:
                self.notify("the dynamics as of this step are still being computed", markup=False)
            return

        def chosen(region: str | None) -> None:
            if region is not None:
                self.action_quick(region)

        self.app.push_screen(DataMapScreen(dynamics, self.view_step), chosen)

    def action_regressions(self) -> None:
        from evotui.watch.screens.regressions import RegressionsScreen

        if not self._still_reading() and self.state.dynamics is not None:
            self.app.push_screen(RegressionsScreen(self.state.dynamics), self._travel_if_chosen)

    def _travel_if_chosen(self, step: int | None) -> None:
        if step is not None:
            self.travel_to(step)

    # -- compare -------------------------------------------------------------------------------------
    def action_compare(self) -> None:
        from evotui.watch.screens.compare import CompareScreen

        if self._still_reading():
            return
        history, dynamics = self.state.history, self.state.dynamics
        step_b = self._current_step()
        if dynamics is None or step_b is None or history.steps.index(step_b) == 0 or self.rows is None:
            self.notify("compare needs two snapshots: there is no earlier one", severity="warning")
            return
        step_a = history.steps[history.steps.index(step_b) - 1]
        self.app.push_screen(CompareScreen(history, dynamics, self.rows.order.tolist(), step_a, step_b))

    # -- export --------------------------------------------------------------------------------------
    def default_export_path(self) -> str:
        name = re.sub(r"[^A-Za-z0-9._-]+", "_", self.state.name).strip("._") or "run"
        parts = [name[:40]]
        if self.query_state.quick != "all":
            parts.append(self.query_state.quick)
        if self.query_state.text.strip():
            parts.append("filtered")
        if self.view_step is not None:
            parts.append(f"step{self.view_step}")
        return "-".join(parts) + ".csv"

    def action_export(self) -> None:
        from evotui.watch.screens.export_dialog import ExportScreen

        if self.rows is None or not self.state.history.n_steps:
            return
        if self.travel_pending:
            self.notify("the dynamics as of this step are still being computed", markup=False)
            return
        shown = len(self.rows)
        what = f"Export the {shown:,} example{'s' if shown != 1 else ''} shown"
        if self.view_step is not None:
            what += f", as of step {self.view_step:,}"
        if self.app.is_web:
            what += " (a download in your browser)"
        self.app.push_screen(ExportScreen(self.default_export_path(), what), self._export_to)

    def _export_to(self, path: str | None) -> None:
        if path is None or self.rows is None:
            return
        from evotui.analysis.export import iter_rows, write_rows  # only when exporting

        # Everything is taken now, on the UI thread; only the writing runs in the thread.
        rows = iter_rows(self.state.history, self.view_dynamics(), self.rows.order.tolist(), self.view_step)
        if self.app.is_web:
            self._export_to_browser(Path(path).name, rows)
            return
        target = Path(path).expanduser().absolute()
        self.notify(f"exporting {len(self.rows):,} examples to {target}", title="export", markup=False, timeout=3)

        def write() -> None:
            try:
                count = write_rows(target, rows)
            except OSError as exc:
                self.app.call_from_thread(
                    self.notify, f"cannot write {target}: {exc.strerror or exc}", severity="error", markup=False
                )
                return
            self.last_export = (target, count)
            self.app.call_from_thread(self.notify, f"wrote {count:,} rows to {target}", title="export", markup=False)

        self.run_worker(write, thread=True, exit_on_error=False, group="export", description="export rows")

    def _export_to_browser(self, name: str, rows: Any) -> None:
        """In a browser (`evotui serve`) the file is a download: the viewer never writes on the server's disk."""

        from evotui.analysis.export import export_format, write_rows_to  # only when exporting

        def build() -> None:
            buffer = io.BytesIO()
            fmt = export_format(name)
            count = write_rows_to(buffer, fmt, rows)
            self.last_export = (Path(name), count)
            mime = {"csv": "text/csv", "jsonl": "application/x-ndjson"}.get(fmt, "application/vnd.apache.parquet")
            self.app.call_from_thread(self.app.deliver_binary, buffer, save_filename=name, mime_type=mime)
            self.app.call_from_thread(
                self.notify, f"{count:,} rows sent to your browser as {name}", title="export", markup=False
            )

        self.run_worker(build, thread=True, exit_on_error=False, group="export", description="export rows")
