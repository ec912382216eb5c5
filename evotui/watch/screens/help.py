"""`?`: the keys, and what the columns and statuses mean."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

HELP = """\
# evotui watch

| key | does |
|---|---|
| `/` | filter (id, input, expected, output); live as you type, enter keeps it, esc clears it |
| `f` | next quick filter: all, wrong now, forgotten, never right, then each status and data-map region |
| `[` / `]` | the table as of the previous / next snapshot (step travel); `esc` back to the latest |
| `t` | go to a snapshot (step picker) |
| `m` | data map: variability against confidence; choose a region to filter the table |
| `r` | regressions: snapshots where accuracy fell (red on the accuracy sparkline) or examples were forgotten |
| `c` | compare two snapshots' outputs side by side, changed characters highlighted |
| `i` | insights (regressions, output collapse, slices...); enter shows an insight's examples |
| `e` | export the rows shown (a row per example per step) as .csv, .jsonl or .parquet; the full path is shown first |
| `s` / `S` | sort by the next column / reverse it (the header's arrow marks it; first by id); or click a title |
| `↑ ↓ PgUp PgDn Home End` | move in the table (mouse: click, wheel) |
| `enter` / `d` | detail pane full height, and back |
| `n` / `p` | next / previous example (works with the detail pane full height) |
| `z` | the table full height (no detail pane), and back |
| `tab` | next pane: table, prediction history, filter box |
| `esc` | step out: close a pop-up, leave full height or step travel, clear the filters, back to the run list |
| `w` | the snapshot files that could not be read, and why |
| `ctrl+p` | command palette |
| `?` | this help · `q` quit |

**status**: *known* right from step 0 and never forgotten · *learned* learned later and never
forgotten · *unstable* forgotten at least once, right now · *forgotten* was right, wrong now ·
*never* never right.

**learned**: the snapshot from which the example stays right to the latest one. Snapshots are
sparse, so it was learned somewhere in (previous snapshot, that step]; the detail pane shows the interval.
**forgets**: right-then-wrong transitions between snapshots: a lower bound.

**data map** (Swayamdipta et al. 2020), over the snapshots after step 0: *confidence* is the mean
probability of the expected answer (exp(-loss)), *variability* its standard deviation, *correctness*
the share of snapshots right. Regions (Data-IQ): *easy* confidence ≥ 0.75, *hard* ≤ 0.25, both with
an aleatoric spread at most the median; *ambiguous* the rest.

The header says *live* while the run writes, *stale* after 10 minutes without a heartbeat or a
snapshot, *finished* or *failed* from run.json. Files that cannot be read are skipped, counted in
the header and retried when they change.
"""


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q,question_mark", "dismiss", "Close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-body"):
            yield Markdown(HELP)

    def action_dismiss(self) -> None:  # type: ignore[override]
        self.dismiss(None)
