"""The key hints at the bottom of a live screen: Textual's ``Footer``, without rebuilding itself for a
focus change.

Textual's footer rebuilds itself (removes its keys, mounts new ones) whenever the bindings may have
changed: every focus change ("/" into the filter, enter back to the table), every pop-up. The rebuild
runs in a batch on the screen's message queue: until the old keys are gone and the new ones mounted,
no screen update is shown and the screen handles no message. Under live load that held the next
keys' screen updates for 100-300 ms (bench/load.py). This footer shows and hides the keys it already
has instead when it can (the filter hides the letter keys, which it types, and enter brings them back;
a key enabled or disabled is greyed in place), and rebuilds only for keys it does not have.
"""

from __future__ import annotations

from textual.screen import Screen
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

Shown = tuple[str, str, str, str | None, bool]  # key, action, description, tooltip, enabled


def shown_keys(screen: Screen) -> list[Shown]:
    """The keys a footer on ``screen`` shows now, in order (as ``Footer.compose`` picks them: shown
    bindings, the first key of each action, the command palette's key last)."""
    palette = screen.app.COMMAND_PALETTE_BINDING
    shown: list[Shown] = []
    actions: set[str] = set()
    last: list[Shown] = []
    for key, (_node, binding, enabled, tooltip) in screen.active_bindings.items():
        if key == palette:
            last = [(binding.key, binding.action, binding.description, binding.tooltip or binding.description, enabled)]
        elif binding.show and binding.group is None and binding.action not in actions:
            actions.add(binding.action)
            shown.append((binding.key, binding.action, binding.description, tooltip or None, enabled))
        elif binding.show and binding.group is not None:
            return []  # grouped keys: only Textual's own rebuild lays them out
    return shown + last


class KeysFooter(Footer):
    """A ``Footer`` that shows, hides and greys the keys it has instead of rebuilding them all."""

    _rebuild_queued = False  # a rebuild waits for the next refresh: it will read the bindings of then

    def bindings_changed(self, screen: Screen) -> None:
        visible_here = screen.app.app_focus and self.is_attached and screen is self.screen
        if self._bindings_ready and visible_here and self._show_in_place(shown_keys(screen)):
            return
        if self._rebuild_queued and visible_here:
            # A rebuild is already queued: a second one would mount every key again (at start-up the
            # bindings change three times before the first rebuild runs: three rebuilds of ~26 keys).
            return
        super().bindings_changed(screen)
        self._rebuild_queued = bool(visible_here)

    async def recompose(self) -> None:
        self._rebuild_queued = False
        await super().recompose()

    def _show_in_place(self, wanted: list[Shown]) -> bool:
        """Show just ``wanted`` with the key widgets already mounted; False when some are missing."""
        if not wanted:
            return False
        have = list(self.query(FooterKey))
        where = {(k.key, k.action, k.description, k.tooltip or None): i for i, k in enumerate(have)}
        positions = [where.get(entry[:4]) for entry in wanted]
        if None in positions or positions != sorted(positions):  # type: ignore[type-var]
            return False
        enabled = dict(zip(positions, (entry[4] for entry in wanted), strict=True))
        for i, footer_key in enumerate(have):
            footer_key.display = i in enabled
            state = enabled.get(i)
            if state is not None and footer_key._disabled == state:
                footer_key._disabled = not state  # as FooterKey(disabled=...) sets it
                footer_key.set_class(not state, "-disabled")
        return True
