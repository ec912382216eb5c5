"""The insights side of the main screen: `i` lists them, choosing one filters the table to its evidence,
and new ones are announced as snapshots arrive (a notification, ``--bell``, ``--alerts FILE``).

A mixin for ``MainScreen``, like ``DynamicsActions``. The insights themselves are computed in the run
service's thread (``RunView.insights``); this only shows them. Which insight was announced already is
the App's ``InsightAlerts`` (``evotui.watch.alerts``), shared by every screen of the session.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual.binding import Binding, BindingType

from evotui.watch.text import visible

if TYPE_CHECKING:
    from evotui.analysis.insights import Insight
    from evotui.analysis.table import TableQuery
    from evotui.watch.service import RunView

INSIGHT_BINDINGS: list[BindingType] = [
    Binding("i", "insights", "Insights", show=False, tooltip="What the run says: regressions, collapse, slices..."),
]
NOTIFY_SEVERITY = {"warning": "warning", "critical": "error"}  # Severity value -> notification severity


class InsightActions:
    """Mixed into ``MainScreen``."""

    query_state: TableQuery

    if TYPE_CHECKING:
        app: Any
        path: Any

        @property
        def state(self) -> RunView: ...
        def refresh_table(self, follow: bool = False) -> None: ...
        def notify(self, message: str, **kwargs: Any) -> None: ...
        def query_one(self, selector: Any, expect_type: Any = None) -> Any: ...

    def action_insights(self) -> None:
        from evotui.watch.screens.insights import InsightsScreen

        self.app.push_screen(InsightsScreen(self.state.insights), self.show_evidence)

    def show_evidence(self, insight: Insight | None) -> None:
        """The table filtered to ``insight``'s example ids (esc shows all again)."""
        if insight is None:
            return
        from textual.widgets import Input

        history = self.state.history
        indices = sorted(i for i in (history.index_of(e) for e in insight.example_ids) if i is not None)
        self.query_state.only = tuple(indices)
        self.query_state.only_label = f"{insight.kind.value} @ {insight.step:,}"
        self.query_state.quick = "all"
        field = self.query_one("#filter-input", Input)
        if field.value:
            field.value = ""  # its Changed event refreshes the table too
        self.query_state.text = ""
        self.refresh_table(follow=True)

    def clear_evidence(self) -> bool:
        """Drop the insight filter; False when there was none."""
        if self.query_state.only is None:
            return False
        self.query_state.only, self.query_state.only_label = None, ""
        self.refresh_table(follow=True)
        return True

    def announce_insights(self, previous: RunView, view: RunView) -> None:
        """Notify (and ring, and append to the alerts file) the insights new in ``view``."""
        alerts = getattr(self.app, "insight_alerts", None)
        # Every loaded view, even with no insight: the first one marks the run as seen, so that what
        # comes later is news (a cheap pass over the few insights).
        if alerts is None or not view.loaded or view.dynamics is None:
            return  # without dynamics, no insights were looked for yet (a big first read shows its data first)
        batch = alerts.take(self.path, view.insights)
        if alerts.problem:
            self.notify(visible(alerts.problem), title="alerts file", severity="error", markup=False)
            alerts.problem = ""
        if not batch.new:
            return
        if batch.initial:
            worst = max(batch.new, key=lambda x: x.severity.rank).severity
            self.notify(
                f"{len(batch.new)} insight{'s' if len(batch.new) != 1 else ''} to look at: press i",
                title="insights",
                severity=NOTIFY_SEVERITY[worst.value],
                markup=False,
                timeout=6,
            )
            return
        for insight in batch.new:
            self.notify(
                visible(insight.message),
                title=f"{insight.kind.value} · {insight.severity.value} (i: insights)",
                severity=NOTIFY_SEVERITY[insight.severity.value],
                markup=False,
                timeout=8,
            )
        if alerts.bell:
            self.app.bell()
